import type { Plan, PlanStep } from '@loom/compiler';
import { resolveShape, type DimBindings } from '@loom/graph';
import { tensorLabel } from '../index-checks.ts';
import type { DeviceLimits } from './gpu-provider.ts';
import type { KernelContext, KernelLaunch, KernelSource, TensorInfo } from './kernel.ts';
import { statusSlots } from './kernel.ts';

/** What a renderer sees of plan step `step` for these symbol values and device limits. */
export function stepContext(plan: Plan, step: PlanStep, statusSlot: number, bindings: DimBindings, limits: DeviceLimits): KernelContext {
  const graph = plan.graph;
  const node = graph.nodes[step.node]!;
  const info = (id: number): TensorInfo => {
    const n = graph.nodes[id]!;
    return { dtype: n.type.dtype, shape: resolveShape(n.type.shape, bindings), label: tensorLabel(graph, id) };
  };
  return { node, attrs: node.attrs as never, inputs: node.inputs.map(info), output: info(node.id), limits, statusSlot, inPlace: step.inPlace };
}

/** One plan step's launches, rendered for fixed symbol values. */
export interface RenderedStep {
  readonly step: number;
  readonly launches: readonly KernelLaunch[];
}

/**
 * Every step's launches for these symbol values, rendered once: what `loom export --format ts
 * --target webgpu` writes into a module (with the spec's default limits, so that it runs anywhere).
 */
export function renderPlan(plan: Plan, bindings: DimBindings, limits: DeviceLimits, kernels: KernelSource): RenderedStep[] {
  const slots = statusSlots(plan);
  return plan.steps.map((step, k) => {
    const render = kernels(plan.graph.nodes[step.node]!, k);
    return { step: k, launches: render(stepContext(plan, step, slots[k]!, bindings, limits)) };
  });
}

import type { Plan } from '@loom/compiler';
import type { GraphNode, OpName } from '@loom/graph';
import type { AttrsOf } from '../op-attrs.ts';
import type { GpuKernelContext, TensorInfo } from '../gpu/kernel-context.ts';
import type { DeviceLimits } from './gpu-provider.ts';

/**
 * The contract between renderers and the runtime. A renderer turns one plan step (a node of the
 * compiled graph, with its shapes resolved for this run) into WGSL launches; it never touches the
 * device. The runtime owns buffers, pipelines and the command encoder.
 */

/** A tensor a kernel reads or writes, with its shape resolved for this run. */
export type { TensorInfo };

export type { AttrsOf };

export interface KernelContext<K extends OpName = OpName> extends GpuKernelContext<K, DeviceLimits> {
  /** Index of this step's slot in the status buffer (kernels that report bad data, e.g. gather ids). */
  readonly statusSlot: number;
  /** The plan writes the output into input 0's buffer (a state updated in place): do not bind input 0. */
  readonly inPlace: boolean;
}

/** Which buffer a storage binding refers to. */
export type BufferRef = { readonly input: number } | { readonly output: true } | { readonly status: true };

export interface StorageBinding {
  readonly buffer: BufferRef;
  /** A byte range of the buffer (chunked access to tensors larger than one binding); default: all. */
  readonly offset?: number;
  readonly size?: number;
}

/** One compute dispatch. Storage bindings take @binding(0..n-1); the Params block is @binding(n). */
export interface KernelLaunch {
  readonly wgsl: string;
  readonly workgroups: readonly [number, number, number];
  readonly bindings: readonly StorageBinding[];
  readonly params: Uint32Array;
}

export type KernelRenderer<K extends OpName> = (ctx: KernelContext<K>) => KernelLaunch[];

/** A renderer with the op left open (what a kernel table lookup returns). */
export type AnyKernelRenderer = (ctx: KernelContext) => KernelLaunch[];

/** Where a model's launches come from: the renderer of plan step `step` (node `node`). */
export type KernelSource = (node: GraphNode, step: number) => AnyKernelRenderer;

/** Ops whose kernels report out-of-range indices through the status buffer. */
const STATUS_OPS: ReadonlySet<string> = new Set(['gather', 'cache_update', 'scatter_add', 'softmax_cross_entropy', 'expert_matmul']);

/** Each step's slot in the status buffer, or -1: the numbering renderers and the runtime share. */
export function statusSlots(plan: Plan): number[] {
  let slots = 0;
  return plan.steps.map((step) => (STATUS_OPS.has(plan.graph.nodes[step.node]!.op) ? slots++ : -1));
}

export const input = (index: number): BufferRef => ({ input: index });
export const OUTPUT: BufferRef = { output: true };
export const STATUS: BufferRef = { status: true };

export function sizeOfShape(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

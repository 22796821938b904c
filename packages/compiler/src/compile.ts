import { expandOps, type Graph } from '@loom/graph';
import type { Pass } from './passes/pass.ts';
import { planMemory, type MemoryPlanOptions } from './plan-memory.ts';
import type { Plan } from './plan.ts';
import { scheduleForMemory } from './schedule.ts';

export interface CompileOptions extends MemoryPlanOptions {
  /** The passes to run, in order; the default pipeline when omitted. */
  readonly passes?: readonly Pass[];
  /** Order kernels to lower peak memory (default true); false keeps graph order. */
  readonly schedule?: boolean;
}

export interface PassTrace {
  readonly pass: string;
  readonly nodesBefore: number;
  readonly nodesAfter: number;
  readonly ms: number;
}

export interface CompileResult {
  readonly plan: Plan;
  readonly trace: readonly PassTrace[];
  readonly compileMs: number;
  /** Peak live intermediate bytes in graph order and in the chosen order (at `bindings`). */
  readonly graphOrderPeakBytes: number;
  readonly scheduledPeakBytes: number;
}

/** Placeholder default until the pass pipeline lands: composites into primitives. */
const decomposeOnly: Pass = {
  name: 'decompose-composites',
  description: 'replace composite ops by their decompositions',
  run: (graph) => expandOps(graph, (def) => def.category === 'composite'),
};

/** Graph -> Plan: the pass pipeline, then scheduling, then memory planning. */
export function compileWithReport(graph: Graph, options: CompileOptions = {}): CompileResult {
  const start = performance.now();
  const trace: PassTrace[] = [];
  let current = graph;
  for (const pass of options.passes ?? [decomposeOnly]) {
    const t = performance.now();
    const next = pass.run(current);
    trace.push({ pass: pass.name, nodesBefore: current.nodes.length, nodesAfter: next.nodes.length, ms: performance.now() - t });
    current = next;
  }
  const schedule = options.schedule === false ? undefined : scheduleForMemory(current, options.bindings ?? {});
  const order = schedule?.order ?? current.nodes.map((n) => n.id);
  const plan = planMemory(current, order, { nodesBefore: graph.nodes.length, ...options });
  return {
    plan,
    trace,
    compileMs: performance.now() - start,
    graphOrderPeakBytes: schedule?.graphOrderPeakBytes ?? NaN,
    scheduledPeakBytes: schedule?.peakBytes ?? NaN,
  };
}

export function compile(graph: Graph, options: CompileOptions = {}): Plan {
  return compileWithReport(graph, options).plan;
}

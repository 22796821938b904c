import { type Graph } from '@loom/graph';
import { withIntermediates, type IntermediateSpec } from './intermediates.ts';
import type { Pass } from './passes/pass.ts';
import { runPipeline, type PassTraceEntry, type PipelineOptions } from './pipeline.ts';
import { planMemory, type MemoryPlanOptions } from './plan-memory.ts';
import type { Plan } from './plan.ts';
import { scheduleForMemory } from './schedule.ts';

export interface CompileOptions extends MemoryPlanOptions {
  /** The passes to run, in order; the default pipeline when omitted. */
  readonly passes?: readonly Pass[];
  /** Order kernels to lower peak memory (default true); false keeps graph order. */
  readonly schedule?: boolean;
  /** Print the graph after this pass (or 'all') into the trace. */
  readonly dumpAfter?: string;
  /** Verify the graph after every pass (tests do). */
  readonly verify?: boolean;
  /** Called after each pass (progress, instrumentation). */
  readonly onPass?: PipelineOptions['onPass'];
  /** Also output these intermediates (intermediates.ts): attention weights, chosen nodes. */
  readonly intermediates?: IntermediateSpec;
}

export interface CompileResult {
  readonly plan: Plan;
  readonly trace: readonly PassTraceEntry[];
  readonly compileMs: number;
  /** Peak live intermediate bytes in graph order and in the chosen order (at `bindings`). */
  readonly graphOrderPeakBytes: number;
  readonly scheduledPeakBytes: number;
}

/** Graph -> Plan: the pass pipeline, then scheduling, then memory planning. */
export function compileWithReport(source: Graph, options: CompileOptions = {}): CompileResult {
  const start = performance.now();
  const graph = options.intermediates ? withIntermediates(source, options.intermediates).graph : source;
  const { graph: compiled, trace } = runPipeline(graph, {
    ...(options.passes ? { passes: options.passes } : {}),
    ...(options.dumpAfter ? { dumpAfter: options.dumpAfter } : {}),
    ...(options.verify ? { verify: true } : {}),
    ...(options.onPass ? { onPass: options.onPass } : {}),
  });
  const schedule = options.schedule === false ? undefined : scheduleForMemory(compiled, options.bindings ?? {});
  const order = schedule?.order ?? compiled.nodes.map((n) => n.id);
  const plan = planMemory(compiled, order, { nodesBefore: source.nodes.length, ...options });
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

import { printGraph, verifyGraph, type Graph } from '@loom/graph';
import {
  decomposeComposites,
  eliminateCommonSubexpressions,
  eliminateDeadCode,
  foldConstants,
  fuseAddLayerNorm,
  fuseAttention,
  fuseCheapProducers,
  fuseElementwise,
  fuseMatmulEpilogue,
  fuseRopeIntoProjection,
  inferTypes,
  simplifyAlgebra,
  splitActivationRounding,
  type Pass,
} from './passes/index.ts';

/**
 * The graph half of the compiler, top to bottom. Each pass is a pure function from graph to graph;
 * the output holds only source, primitive (elementwise included) and fused ops.
 */
export const defaultPipeline: readonly Pass[] = [
  // recompute every type from the op table and check the invariants: a bad graph fails here, not in a kernel
  inferTypes,
  // composites (linear, attention, ffn, ...) become primitives, so the rest sees one vocabulary
  decomposeComposites,
  // identity ops and transpose/reshape chains that decomposition leaves behind
  simplifyAlgebra,
  // masks and tables computed from constants alone (static ranges, small constant arithmetic)
  foldConstants,
  // again: folding exposes identities (x / (|0| + 1) is x / 1); simplifying exposes no new folding
  simplifyAlgebra,
  // merge duplicates: repeated constants, the same mask built for every layer
  eliminateCommonSubexpressions,
  // whatever the above orphaned
  eliminateDeadCode,
  // first the big patterns, while their primitives are still visible: softmax(q k^T * s + m) v ...
  fuseAttention,
  // ... and layer_norm(x + r) (post-norm blocks)
  fuseAddLayerNorm,
  // then elementwise chains become single kernels ...
  fuseElementwise,
  // ... which a matmul that feeds them runs as its epilogue (bias, activation, residual)
  fuseMatmulEpilogue,
  // fusion leaves the absorbed nodes unread
  eliminateDeadCode,
];

/**
 * The cpu backend's pipeline: the default one, and then rotary positions run inside the q and k
 * projections (fused_matmul_rope), whose kernel rotates the product rows it has just written.
 */
export const cpuPipeline: readonly Pass[] = [...defaultPipeline.slice(0, -1), fuseRopeIntoProjection, eliminateDeadCode];

/**
 * The GPU backends' pipeline: the default one, then elementwise kernels recompute the cheap
 * producers they read (fuse-cheap-producers: fewer kernels, each a draw or dispatch and, on WebGL,
 * a shader to compile), and int8-activation products split into the rounding and a float product
 * (split-activation-rounding), which their shaders run as two kernels.
 */
export const gpuPipeline: readonly Pass[] = [...defaultPipeline, fuseCheapProducers, eliminateDeadCode, splitActivationRounding];

export interface PassTraceEntry {
  readonly name: string;
  readonly nodesBefore: number;
  readonly nodesAfter: number;
  /** Wall time of the pass in milliseconds (verification not included). */
  readonly ms: number;
  /** The graph after the pass, printed, when `dumpAfter` asked for it. */
  readonly dump?: string;
}

export interface PipelineOptions {
  /** The passes to run, in order. Default: defaultPipeline. */
  readonly passes?: readonly Pass[];
  /** Print the graph after the pass of this name (or after every pass) into its trace entry. */
  readonly dumpAfter?: string | 'all';
  /** Called after each pass with its output (instrumentation: dumps, counters, visualizers). */
  readonly onPass?: (pass: Pass, graph: Graph, trace: PassTraceEntry) => void;
  /** Run verifyGraph after every pass and name the pass that broke an invariant. Default false. */
  readonly verify?: boolean;
}

export interface PipelineResult {
  readonly graph: Graph;
  readonly trace: readonly PassTraceEntry[];
}

/** Runs the passes in order on `graph` (which is not modified) and reports what each did. */
export function runPipeline(graph: Graph, options: PipelineOptions = {}): PipelineResult {
  const passes = options.passes ?? defaultPipeline;
  const trace: PassTraceEntry[] = [];
  let current = graph;
  for (const pass of passes) {
    const start = performance.now();
    const next = pass.run(current);
    const ms = performance.now() - start;
    if (options.verify) {
      try {
        verifyGraph(next);
      } catch (e) {
        (e as Error).message = `after pass '${pass.name}': ${(e as Error).message}`;
        throw e;
      }
    }
    const dump = options.dumpAfter === 'all' || options.dumpAfter === pass.name ? printGraph(next) : undefined;
    const entry: PassTraceEntry = { name: pass.name, nodesBefore: current.nodes.length, nodesAfter: next.nodes.length, ms, ...(dump !== undefined ? { dump } : {}) };
    trace.push(entry);
    options.onPass?.(pass, next, entry);
    current = next;
  }
  return { graph: current, trace };
}

/** The trace as a table, one pass per line. */
export function formatTrace(trace: readonly PassTraceEntry[]): string {
  const width = Math.max(...trace.map((t) => t.name.length), 4);
  const lines = trace.map((t) => `${t.name.padEnd(width)}  ${String(t.nodesBefore).padStart(6)} -> ${String(t.nodesAfter).padStart(6)}  ${t.ms.toFixed(2).padStart(8)} ms`);
  const total = trace.reduce((s, t) => s + t.ms, 0);
  return [...lines, `${'total'.padEnd(width)}  ${''.padStart(16)}  ${total.toFixed(2).padStart(8)} ms`].join('\n');
}

import fc from 'fast-check';
import {
  graphInputs,
  mulberry32,
  graphParams,
  LoomError,
  nodeName,
  resolveShape,
  sizeOf,
  type Dim,
  type Graph,
  type GraphNode,
  type NDArray,
  type Weights,
} from '@loom/graph';
import type { Backend, PreparedModel } from './backend.ts';
import { getBackend } from './registry.ts';
import { formatBytes, MemoryBudgetError } from './memory-budget.ts';

export interface VerifyOptions {
  /** Backends (names or objects) compared with the float64 reference interpreter. Default ['cpu']. */
  readonly backends?: readonly (string | Backend)[];
  /** Random input sets to try (fast-check runs). Default 10. */
  readonly runs?: number;
  readonly seed?: number;
  /** Weights; random (seeded) when omitted. */
  readonly weights?: Weights;
  /** |got - want| <= atol + rtol * |want| for every element. Defaults 1e-4 and 1e-3. */
  readonly atol?: number;
  readonly rtol?: number;
  /** Upper bound for symbolic dimensions drawn at random. Default 8. */
  readonly maxDim?: number;
  /** Called before each run (progress), shrinking runs included. */
  readonly onRun?: (done: number, total: number) => void;
  /** Called after each of the random runs on which every backend agreed, with its input shapes and errors (not while shrinking). */
  readonly onResult?: (run: number, result: RunResult) => void;
  /** Stop starting runs after this many milliseconds; the report says how many ran (`interrupted`). */
  readonly timeoutMs?: number;
}

/** One random run that passed: the input shapes drawn and each backend's largest error on it. */
export interface RunResult {
  readonly shapes: Readonly<Record<string, readonly number[]>>;
  readonly agreements: readonly BackendAgreement[];
}

export interface BackendAgreement {
  readonly backend: string;
  /** Largest |got - want| over all runs and outputs. */
  readonly maxAbsError: number;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly runs: number;
  readonly seed: number;
  readonly agreements: readonly BackendAgreement[];
  /** Set when `timeoutMs` stopped verification before all runs (`runs` says how many ran). */
  readonly interrupted?: boolean;
  /** When not ok: the shrunk input set on which a backend disagreed, and how. */
  readonly counterexample?: { readonly backend: string; readonly output: string; readonly detail: string; readonly inputs: Readonly<Record<string, { shape: number[]; values: number[] }>> };
}

class Disagreement extends Error {
  constructor(
    readonly backend: string,
    readonly output: string,
    readonly detail: string,
  ) {
    super(`${backend} disagrees with the reference on '${output}': ${detail}`);
  }
}

/**
 * Property-based check that backends compute the graph's function: random inputs (symbolic sizes,
 * token ids inside the tables they index) run on each backend and on the float64 reference; the
 * first disagreement is shrunk by fast-check to a small input set and reported.
 */
export async function verify(graph: Graph, options: VerifyOptions = {}): Promise<VerifyReport> {
  const seed = options.seed ?? 42;
  const runs = options.runs ?? 10;
  const atol = options.atol ?? 1e-4;
  const rtol = options.rtol ?? 1e-3;
  const weights = options.weights ?? randomWeights(graph, seed);
  const backends = await Promise.all((options.backends ?? ['cpu']).map((b) => (typeof b === 'string' ? getBackend(b) : b)));
  const names = backends.map((b) => b.name);
  const reference = await (await getBackend('reference')).prepare(graph, weights);
  const prepared: [string, PreparedModel][] = [];
  for (const backend of backends) prepared.push([backend.name, await backend.prepare(graph, weights)]);
  const maxErrors = new Map<string, number>(names.map((n) => [n, 0]));
  try {
    let done = 0;
    let shrinking = false;
    const property = fc.asyncProperty(feedsArbitrary(graph, options.maxDim ?? 8), async (feeds) => {
      const run = done++;
      options.onRun?.(run, runs);
      const want = await reference.run(feeds);
      const runErrors = new Map<string, number>(names.map((n) => [n, 0]));
      try {
        await compareRun(feeds, want, runErrors);
      } catch (e) {
        shrinking = true;
        throw e;
      } finally {
        for (const [name, err] of runErrors) maxErrors.set(name, Math.max(maxErrors.get(name)!, err));
      }
      if (!shrinking) {
        const shapes = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, [...v.shape]]));
        options.onResult?.(run, { shapes, agreements: names.map((backend) => ({ backend, maxAbsError: runErrors.get(backend)! })) });
      }
    });
    const compareRun = async (feeds: Record<string, NDArray>, want: Record<string, NDArray>, runErrors: Map<string, number>) => {
      for (const [name, model] of prepared) {
        const got = await model.run(feeds);
        for (const [output, expected] of Object.entries(want)) {
          const actual = got[output];
          if (!actual) throw new Disagreement(name, output, 'missing output');
          if (actual.data.length !== expected.data.length) throw new Disagreement(name, output, `shape [${actual.shape.join(', ')}], want [${expected.shape.join(', ')}]`);
          for (let i = 0; i < expected.data.length; i++) {
            const w = expected.data[i]!;
            const g = actual.data[i]!;
            const err = Math.abs(g - w);
            runErrors.set(name, Math.max(runErrors.get(name)!, Number.isNaN(err) ? Infinity : err));
            if (!(err <= atol + rtol * Math.abs(w))) throw new Disagreement(name, output, `element ${i}: got ${g}, want ${w} (error ${err.toExponential(2)})`);
          }
        }
      }
    };
    const result = await fc.check(property, { numRuns: runs, seed, ...(options.timeoutMs !== undefined ? { interruptAfterTimeLimit: options.timeoutMs, markInterruptAsFailure: false } : {}) });
    const agreements = names.map((backend) => ({ backend, maxAbsError: maxErrors.get(backend)! }));
    if (!result.failed) return { ok: true, runs: result.numRuns, seed, agreements, ...(result.interrupted ? { interrupted: true } : {}) };
    const [feeds] = result.counterexample ?? [{}];
    const cause = result.errorInstance;
    if (!(cause instanceof Disagreement)) throw cause instanceof Error ? cause : new Error(String(cause));
    const inputs = Object.fromEntries(Object.entries(feeds as Record<string, NDArray>).map(([k, v]) => [k, { shape: [...v.shape], values: Array.from(v.data) }]));
    return { ok: false, runs: result.numRuns, seed, agreements, counterexample: { backend: cause.backend, output: cause.output, detail: cause.detail, inputs } };
  } finally {
    reference.dispose();
    for (const [, model] of prepared) model.dispose();
  }
}

/**
 * Seeded random weights: small uniform values, norm scales near 1. With `maxMemory` (bytes), weights
 * whose float32 bytes exceed it are a MemoryBudgetError with the numbers, before any is drawn.
 */
export function randomWeights(graph: Graph, seed: number, maxMemory?: number): Map<string, NDArray> {
  checkRandomWeights(graph, maxMemory);
  const random = mulberry32(seed);
  const weights = new Map<string, NDArray>();
  for (const node of graphParams(graph)) {
    const name = nodeName(node)!;
    const shape = resolveShape(node.type.shape, new Map());
    const isScale = shape.length === 1 && /(^|\.)(ln|norm)[^.]*\.weight$/.test(name);
    const data = new Float32Array(sizeOf(shape));
    for (let i = 0; i < data.length; i++) data[i] = (isScale ? 1 : 0) + (random() - 0.5) * 0.1;
    weights.set(name, { dtype: node.type.dtype, shape, data: node.type.dtype === 'i32' ? Int32Array.from(data, Math.round) : data });
  }
  return weights;
}

/** The most elements one typed array takes (V8's limit on 64-bit machines). */
const MAX_ARRAY_ELEMENTS = 2 ** 32;

/** Refuses, before drawing, random weights over the budget or a weight too large for one array. */
function checkRandomWeights(graph: Graph, maxMemory: number | undefined): void {
  const params = graphParams(graph);
  const sizes = params.map((node) => sizeOf(resolveShape(node.type.shape, new Map())));
  const elements = sizes.reduce((sum, n) => sum + n, 0);
  if (maxMemory !== undefined && elements * 4 > maxMemory) {
    throw new MemoryBudgetError(`random weights: the graph's ${params.length} weights hold ${elements} elements, ${formatBytes(elements * 4)} of float32, above the memory budget of ${formatBytes(maxMemory)} (--max-memory)`);
  }
  const huge = sizes.findIndex((n) => n > MAX_ARRAY_ELEMENTS);
  if (huge >= 0) throw new MemoryBudgetError(`random weights: '${nodeName(params[huge]!)}' has ${sizes[huge]} elements, more than one array holds (${MAX_ARRAY_ELEMENTS})`);
}

/** Random values for every graph input: sizes for its symbols, ids inside the tables they index. */
function feedsArbitrary(graph: Graph, maxDim: number): fc.Arbitrary<Record<string, NDArray>> {
  const inputs = graphInputs(graph);
  const limits = verifySizeLimits(graph, maxDim);
  const symbols = [...limits.keys()];
  const sizes = fc.record(Object.fromEntries(symbols.map((s) => [s, fc.integer({ min: 1, max: limits.get(s)! })])));
  return sizes.chain((bound) => {
    const bindings = new Map(Object.entries(bound as Record<string, number>));
    const fields = Object.fromEntries(
      inputs.map((node) => {
        const shape = resolveShape(node.type.shape, bindings);
        const n = sizeOf(shape);
        const values = node.type.dtype === 'i32' ? fc.array(fc.integer({ min: keepMask(graph, node) ? 1 : 0, max: indexLimit(graph, node) - 1 }), { minLength: n, maxLength: n }) : fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: n, maxLength: n });
        return [nodeName(node)!, values.map((v): NDArray => ({ dtype: node.type.dtype, shape, data: node.type.dtype === 'i32' ? Int32Array.from(v) : Float32Array.from(v) }))];
      }),
    );
    return fc.record(fields) as fc.Arbitrary<Record<string, NDArray>>;
  });
}

/**
 * The largest value verify draws for each symbol of the graph's inputs with `maxDim`: maxDim, or
 * less where the symbol indexes a position table. Every size is a product of symbols, so a run at
 * these values holds the most any run may (what a caller checks against its memory before verify).
 */
export function verifySizeLimits(graph: Graph, maxDim: number): Map<string, number> {
  const symbols = [...new Set(graphInputs(graph).flatMap((n) => n.type.shape.filter((d): d is string => typeof d === 'string')))];
  return new Map(symbols.map((s) => [s, symbolLimit(graph, s, maxDim)]));
}

/** Readers of a node, looking through views and casts (ids often pass a reshape before a gather). */
function readers(graph: Graph, id: number): { node: GraphNode; slot: number }[] {
  const out: { node: GraphNode; slot: number }[] = [];
  for (const n of graph.nodes) {
    n.inputs.forEach((i, slot) => {
      if (i !== id) return;
      if (n.op === 'reshape' || n.op === 'cast') out.push(...readers(graph, n.id));
      else out.push({ node: n, slot });
    });
  }
  return out;
}

/** The rows (or classes) input `slot` of `node` indexes, where it is an index: gather, embed, scatter_add, cross-entropy labels. */
function indexedSize(graph: Graph, node: GraphNode, slot: number): Dim | undefined {
  const shapeOf = (k: number) => graph.nodes[node.inputs[k]!]!.type.shape;
  if (node.op === 'gather' && slot === 1) return shapeOf(0)[0];
  if (node.op === 'embed' && slot === 0) return shapeOf(1)[0];
  if (node.op === 'scatter_add' && slot === 0) return node.type.shape[0];
  if (node.op === 'softmax_cross_entropy' && slot === 1) return shapeOf(0)[shapeOf(0).length - 1];
  return undefined;
}

/** Exclusive upper bound for an i32 input: the smallest table (or class count) it indexes, else 8. */
function indexLimit(graph: Graph, input: GraphNode): number {
  let limit = 8;
  let indexes = false;
  for (const { node, slot } of readers(graph, input.id)) {
    const rows = indexedSize(graph, node, slot);
    if (rows === undefined) continue;
    if (typeof rows === 'number') limit = indexes ? Math.min(limit, rows) : rows;
    indexes = true;
  }
  return Math.max(limit, 1);
}

/** A 1/0 keep mask (padding_mask without a pad id) gets ones, so no row is all padding. */
function keepMask(graph: Graph, input: GraphNode): boolean {
  return readers(graph, input.id).some(({ node }) => node.op === 'padding_mask' && node.attrs['padId'] === null);
}

/** A symbol that indexes a position table (learned positions) must stay within it. */
function symbolLimit(graph: Graph, symbol: string, maxDim: number): number {
  let limit = maxDim;
  for (const node of graph.nodes) {
    if (node.op === 'learned_posenc') {
      const rows = graph.nodes[node.inputs[1]!]!.type.shape[0];
      const t = node.type.shape[node.type.shape.length - 2];
      if (t === symbol && typeof rows === 'number') limit = Math.min(limit, rows);
    }
  }
  if (limit < 1) throw new LoomError('verify', `symbol '${symbol}' has no valid size`);
  return limit;
}

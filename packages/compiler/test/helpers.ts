/**
 * Shared by the compiler's tests: running a pass the way the pipeline must (on a frozen input, with
 * the verifier after it) and checking that a rewritten graph computes what the original does.
 */
import { GraphBuilder, interpret, ndarray, verifyGraph, type Graph, type NDArray } from '@loom/graph';
import { f32Budget, firstMismatch, type GraphCase } from '@loom/graph/testing';
import type { Pass } from '../src/index.ts';

/** Freezes a graph deeply, so a pass that writes into its input throws (ES modules are strict). */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Runs a pass on a frozen graph and verifies its output. */
export function runChecked(pass: Pass, graph: Graph): Graph {
  const out = pass.run(deepFreeze(graph));
  try {
    verifyGraph(out);
  } catch (e) {
    throw new Error(`${pass.name} produced an invalid graph: ${(e as Error).message}`);
  }
  return out;
}

/** Relative tolerance between two float64 runs (passes reorder nothing, so this is generous). */
export const F64_TOLERANCE = 1e-9;

const reference = new WeakMap<GraphCase, { f64: Record<string, NDArray>; f32: Record<string, NDArray> }>();

/** The original graph's results, computed once per case. */
function referenceResults(c: GraphCase): { f64: Record<string, NDArray>; f32: Record<string, NDArray> } {
  let r = reference.get(c);
  if (!r) {
    r = { f64: interpret(c.graph, c.feeds, c.weights), f32: interpret(c.graph, c.feeds, c.weights, { precision: 'f32' }) };
    reference.set(c, r);
  }
  return r;
}

/**
 * Throws unless `rewritten` computes what `c.graph` does: in float64 within F64_TOLERANCE of the
 * original, and in float32 within the original's per-op float32 budget of the float64 oracle, plus
 * twice the distance the original float32 run already has (ill-conditioning is the graph's, not the
 * pass's).
 */
export function expectSameFunction(c: GraphCase, rewritten: Graph, what = 'rewritten graph'): void {
  const ref = referenceResults(c);
  const names = c.graph.outputs.map((o) => o.name);
  const outNames = rewritten.outputs.map((o) => o.name);
  if (names.join() !== outNames.join()) throw new Error(`${what}: outputs [${outNames}] differ from [${names}]`);
  const f64 = interpret(rewritten, c.feeds, c.weights);
  const f32 = interpret(rewritten, c.feeds, c.weights, { precision: 'f32' });
  const budget = f32Budget(c.graph);
  for (const name of names) {
    const oracle = ref.f64[name]!;
    const m64 = firstMismatch(f64[name]!, oracle, F64_TOLERANCE);
    if (m64) throw new Error(`${what}: output '${name}' in float64: ${m64}`);
    const slack = Array.from(oracle.data, (e, i) => 2 * Math.abs(ref.f32[name]!.data[i]! - e));
    const m32 = firstMismatch(f32[name]!, oracle, budget, slack);
    if (m32) throw new Error(`${what}: output '${name}' in float32: ${m32}`);
  }
}

export const f32 = (shape: readonly number[], data: ArrayLike<number>): NDArray => ndarray('f32', shape, data, 'f64');

/** Counts of each op in a graph. */
export function opCounts(graph: Graph): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of graph.nodes) counts[n.op] = (counts[n.op] ?? 0) + 1;
  return counts;
}

/** The ops of a graph in order, sources left out: a compact picture for assertions. */
export function opsOf(graph: Graph): string[] {
  return graph.nodes.filter((n) => !['input', 'param', 'constant'].includes(n.op)).map((n) => n.op);
}

export { GraphBuilder };

/** A graph from a builder callback returning its outputs. */
export function buildGraph(fn: (b: GraphBuilder) => Record<string, number>): Graph {
  const b = new GraphBuilder();
  return b.build(fn(b));
}

/** Deterministic values k/8 in [-2, 2] for an array of `shape`. */
export function values(shape: readonly number[], seed = 1): NDArray {
  const n = shape.reduce((p, d) => p * d, 1);
  return f32(shape, Array.from({ length: n }, (_, i) => (((i * 7 + seed * 13) % 33) - 16) / 8));
}

/** Expects two graphs to compute the same outputs (float64, 1e-12) on the given feeds and weights. */
export function expectEquivalent(before: Graph, after: Graph, feeds: Record<string, NDArray>, weights: ReadonlyMap<string, NDArray> = new Map()): void {
  const a = interpret(before, feeds, weights);
  const b = interpret(after, feeds, weights);
  for (const name of Object.keys(a)) {
    const m = firstMismatch(b[name]!, a[name]!, 1e-12);
    if (m) throw new Error(`output '${name}': ${m}`);
  }
}

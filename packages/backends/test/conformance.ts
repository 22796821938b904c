/**
 * The conformance property every backend must hold, written once: on random well-typed graphs (ops
 * drawn from the op table, shapes with 1 and odd primes, symbolic sizes bound at run time), the
 * backend's compiled execution equals the float64 interpreter within the per-op float32 budget, plus
 * twice what the unoptimized float32 reference already deviates (the graph's own conditioning).
 * The backward property holds the gradient graphs of the same random graphs to the same standard.
 */
import fc from 'fast-check';
import { differentiableParams, grad, withScalarLoss } from '@loom/compiler';
import { interpret, type NDArray } from '@loom/graph';
import { arbitraryGraphCase, describeCase, f32Budget, firstMismatch, FORWARD_ONLY_KINDS, GRADIENT_KINDS, type GraphCase, type RecipeKind } from '@loom/graph/testing';
import type { Backend } from '../src/index.ts';

/** The feeds with each float input's values in reverse order: the same values (and domains), other positions. */
function reversedFeeds(feeds: Readonly<Record<string, NDArray>>): Record<string, NDArray> {
  return Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, t.dtype === 'i32' ? t : { ...t, data: t.data.slice().reverse() }]));
}

function compare(backend: Backend, c: GraphCase, feeds: Readonly<Record<string, NDArray>>, got: Record<string, NDArray>, run: string): void {
  const oracle = interpret(c.graph, feeds, c.weights);
  const f32 = interpret(c.graph, feeds, c.weights, { precision: 'f32' });
  const budget = f32Budget(c.graph);
  for (const [name, want] of Object.entries(oracle)) {
    const slack = Array.from(want.data, (e, i) => 2 * Math.abs(f32[name]!.data[i]! - e));
    const mismatch = firstMismatch(got[name]!, want, budget, slack);
    if (mismatch) throw new Error(`${backend.name}: output '${name}'${run}: ${mismatch}`);
  }
}

/**
 * One prepared model, run on the case's feeds and, with `rerun`, again on other values at the same
 * shapes: what a run keeps for the next (pooled buffers, the cpu's kept invariant steps) must not
 * change the second answer.
 */
export async function checkAgainstReference(backend: Backend, c: GraphCase, options: { rerun?: boolean } = {}): Promise<void> {
  const model = await backend.prepare(c.graph, c.weights);
  try {
    compare(backend, c, c.feeds, await model.run(c.feeds), '');
    if (options.rerun) {
      const again = reversedFeeds(c.feeds);
      compare(backend, c, again, await model.run(again), ' (second run, other input values)');
    }
  } finally {
    model.dispose();
  }
}

/** `kinds`: the recipe kinds drawn (default: every kind). */
export function conformanceProperty(backend: Backend, maxRecipes: number, options: { rerun?: boolean; kinds?: readonly RecipeKind[] } = {}) {
  return fc.asyncProperty(arbitraryGraphCase({ maxRecipes, ...(options.kinds ? { kinds: options.kinds } : {}) }), (c) => checkAgainstReference(backend, c, options));
}

/**
 * The case with its graph replaced by the gradient graph (grad(), loss and grad.<param> outputs) of a
 * scalar loss over its f32 outputs (withScalarLoss), with respect to every parameter that has a
 * gradient; undefined when the graph has no f32 output.
 */
export function gradientCase(c: GraphCase): GraphCase | undefined {
  const withLoss = withScalarLoss(c.graph);
  if (!withLoss) return undefined;
  const g: GraphCase = { ...c, graph: grad(withLoss, { loss: 'loss', wrt: differentiableParams(withLoss) }) };
  return Object.assign(g, { [fc.toStringMethod]: () => describeCase(g) });
}

/** The backward conformance property: a random graph's compiled gradient graph equals the interpreter's. */
export function backwardConformanceProperty(backend: Backend, maxRecipes: number, options: { rerun?: boolean; kinds?: readonly RecipeKind[] } = {}) {
  // rounding (int8 activations) has no gradient: its kinds are drawn by the forward property only
  const kinds = (options.kinds ?? GRADIENT_KINDS).filter((k) => !FORWARD_ONLY_KINDS.includes(k));
  const cases = arbitraryGraphCase({ maxRecipes, kinds })
    .map(gradientCase)
    .filter((c): c is GraphCase => c !== undefined);
  return fc.asyncProperty(cases, (c) => checkAgainstReference(backend, c, options));
}

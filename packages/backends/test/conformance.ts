/**
 * The conformance property every backend must hold, written once: on random well-typed graphs (ops
 * drawn from the op table, shapes with 1 and odd primes, symbolic sizes bound at run time), the
 * backend's compiled execution equals the float64 interpreter within the per-op float32 budget, plus
 * twice what the unoptimized float32 reference already deviates (the graph's own conditioning).
 */
import fc from 'fast-check';
import { interpret, type NDArray } from '@loom/graph';
import { arbitraryGraphCase, f32Budget, firstMismatch, type GraphCase } from '@loom/graph/testing';
import type { Backend } from '../src/index.ts';

export async function checkAgainstReference(backend: Backend, c: GraphCase): Promise<void> {
  const oracle = interpret(c.graph, c.feeds, c.weights);
  const f32 = interpret(c.graph, c.feeds, c.weights, { precision: 'f32' });
  const model = await backend.prepare(c.graph, c.weights);
  let got: Record<string, NDArray>;
  try {
    got = await model.run(c.feeds);
  } finally {
    model.dispose();
  }
  const budget = f32Budget(c.graph);
  for (const [name, want] of Object.entries(oracle)) {
    const slack = Array.from(want.data, (e, i) => 2 * Math.abs(f32[name]!.data[i]! - e));
    const mismatch = firstMismatch(got[name]!, want, budget, slack);
    if (mismatch) throw new Error(`${backend.name}: output '${name}': ${mismatch}`);
  }
}

export function conformanceProperty(backend: Backend, maxRecipes: number) {
  return fc.asyncProperty(arbitraryGraphCase({ maxRecipes }), (c) => checkAgainstReference(backend, c));
}

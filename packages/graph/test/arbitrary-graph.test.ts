/**
 * The random-graph arbitrary keeps its promises: graphs verify, cover the op table, run to finite
 * values, and float32 stays within the per-op budget of the float64 oracle (well-conditioned by
 * construction, so a property failure elsewhere is a bug, not noise).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { interpret, OPS, verifyGraph } from '../src/index.ts';
import { arbitraryGraphCase, buildGraphCase, f32Budget, firstMismatch, RECIPE_KINDS, type GraphSpec } from '../src/testing/arbitrary-graph.ts';

describe('arbitraryGraphCase', () => {
  it('builds verified graphs whose float32 results stay within budget of the float64 oracle', () => {
    fc.assert(
      fc.property(arbitraryGraphCase(), (c) => {
        verifyGraph(c.graph);
        const [o64, o32] = [interpret(c.graph, c.feeds, c.weights), interpret(c.graph, c.feeds, c.weights, { precision: 'f32' })];
        for (const name of Object.keys(o64)) {
          if (!Array.from(o64[name]!.data).every(Number.isFinite)) throw new Error(`output ${name} is not finite`);
          const m = firstMismatch(o32[name]!, o64[name]!, f32Budget(c.graph));
          if (m) throw new Error(`float32 output ${name}: ${m}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('draws every op of the op table but the fused ones and cache_update', () => {
    const seen = new Set<string>();
    for (const c of fc.sample(arbitraryGraphCase(), { numRuns: 400, seed: 42 })) for (const n of c.graph.nodes) seen.add(n.op);
    const missing = Object.keys(OPS).filter((op) => !seen.has(op) && !op.startsWith('fused_') && op !== 'cache_update');
    expect(missing).toEqual([]);
  });

  it('builds every recipe list, falling back where a recipe does not fit', () => {
    // one recipe of each kind on a width-1 input, with operand picks that rarely fit
    const spec: GraphSpec = {
      width: 1,
      extraInputs: [],
      bindings: { batch: 1, seq: 1 },
      recipes: RECIPE_KINDS.map((kind, i) => ({ kind, a: i, b: 63 - i, c: i * 5, x: i * 37, flag: i % 2 === 0 })),
      outputs: [0],
      seed: 0,
    };
    const c = buildGraphCase(spec);
    verifyGraph(c.graph);
    expect(() => interpret(c.graph, c.feeds, c.weights)).not.toThrow();
  });

  it('is deterministic: the same spec builds the same graph and data', () => {
    const [spec] = fc.sample(arbitraryGraphCase(), { numRuns: 1, seed: 7 }).map((c) => c.spec);
    const [a, b] = [buildGraphCase(spec!), buildGraphCase(spec!)];
    expect(b.graph).toEqual(a.graph);
    expect(b.feeds).toEqual(a.feeds);
  });
});

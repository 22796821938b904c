/**
 * Gradients of random graphs (the arbitraries every backend's conformance draws: every op of the op
 * table but the fused ones and cache_update) against central finite differences of the float64
 * interpreter, with the tolerances of GRADIENT_CHECK. The loss reads every f32 output nonlinearly.
 */
import fc from 'fast-check';
import { arbitraryGraphCase, GRADIENT_KINDS, type GraphCase } from '@loom/graph/testing';
import { describe, expect, it } from 'vitest';
import { checkGradients, differentiableParams, withScalarLoss } from '../../src/index.ts';

function checkCase(c: GraphCase): void {
  const graph = withScalarLoss(c.graph);
  if (!graph) return;
  const wrt = differentiableParams(graph);
  const check = checkGradients(graph, { loss: 'loss', feeds: c.feeds, weights: c.weights, wrt, samples: 3, seed: 5 });
  if (check.mismatches.length > 0) {
    const m = check.mismatches[0]!;
    throw new Error(`d loss / d ${m.param}[${m.index}]: grad() ${m.analytic}, finite differences ${m.numeric} (${check.mismatches.length} of ${check.checked} elements off)`);
  }
}

describe('gradients of random graphs', () => {
  it('every parameter gradient equals central finite differences of the float64 interpreter (property)', () => {
    fc.assert(fc.property(arbitraryGraphCase({ maxRecipes: 10, kinds: GRADIENT_KINDS }), checkCase), { numRuns: 200, seed: 20261206 });
  });

  it('the property reaches the rules: most cases check elements, few sit on kinks', () => {
    let [cases, checked, kinks] = [0, 0, 0];
    fc.assert(
      fc.property(arbitraryGraphCase({ maxRecipes: 10, kinds: GRADIENT_KINDS }), (c) => {
        const graph = withScalarLoss(c.graph);
        if (!graph) return;
        const check = checkGradients(graph, { loss: 'loss', feeds: c.feeds, weights: c.weights, wrt: differentiableParams(graph), samples: 3, seed: 5 });
        cases += check.checked > 0 ? 1 : 0;
        checked += check.checked;
        kinks += check.kinks;
      }),
      { numRuns: 100, seed: 7 },
    );
    console.log(`gradient property: ${cases} of 100 cases compared ${checked} elements (${kinks} at kinks, skipped)`);
    expect(cases).toBeGreaterThan(50);
    expect(kinks).toBeLessThan(checked / 10);
  });
});

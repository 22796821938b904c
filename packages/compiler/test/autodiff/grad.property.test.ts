/**
 * Gradients of random graphs (the arbitraries every backend's conformance draws: every op of the op
 * table but the fused ones and cache_update) against central finite differences of the float64
 * interpreter, with the tolerances of GRADIENT_CHECK. The loss reads every f32 output nonlinearly.
 */
import fc from 'fast-check';
import { GraphBuilder, graphParams, nodeName, type Graph, type NodeRef } from '@loom/graph';
import { arbitraryGraphCase, type GraphCase } from '@loom/graph/testing';
import { describe, expect, it } from 'vitest';
import { checkGradients, grad, GradError } from '../../src/index.ts';

/** The case's graph with `loss` = sum over its f32 outputs o of sum(sin(o)) + 0.01 sum(o^2). */
export function withScalarLoss(graph: Graph): Graph | undefined {
  const b = new GraphBuilder();
  const map: NodeRef[] = [];
  for (const n of graph.nodes) map[n.id] = b.add(n.op, n.inputs.map((i) => map[i]!), { ...n.attrs }, n.source ?? '');
  const terms = graph.outputs
    .filter((o) => graph.nodes[o.node]!.type.dtype === 'f32')
    .map((o) => {
      const y = map[o.node]!;
      const axes = b.typeOf(y).shape.map((_, i) => i);
      const sum = (x: NodeRef) => (axes.length === 0 ? x : b.add('reduce_sum', [x], { axes }));
      return b.add('add', [sum(b.add('sin', [y])), b.add('mul', [sum(b.add('mul', [y, y])), b.constant(0.01)])]);
    });
  if (terms.length === 0) return undefined;
  return b.build({ loss: terms.reduce((p, t) => b.add('add', [p, t])) });
}

/** The parameters a gradient exists for: grad() refuses those the loss reads only through integer values. */
export function differentiableParams(graph: Graph): string[] {
  let wrt = graphParams(graph).filter((p) => p.type.dtype === 'f32').map((p) => nodeName(p)!);
  for (;;) {
    try {
      grad(graph, { loss: 'loss', wrt });
      return wrt;
    } catch (e) {
      const cut = e instanceof GradError ? /reads parameter '([^']+)' only through/.exec(e.message) : null;
      if (!cut) throw e;
      wrt = wrt.filter((name) => name !== cut[1]);
    }
  }
}

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
    fc.assert(fc.property(arbitraryGraphCase({ maxRecipes: 10 }), checkCase), { numRuns: 200, seed: 20261206 });
  });

  it('the property reaches the rules: most cases check elements, few sit on kinks', () => {
    let [cases, checked, kinks] = [0, 0, 0];
    fc.assert(
      fc.property(arbitraryGraphCase({ maxRecipes: 10 }), (c) => {
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

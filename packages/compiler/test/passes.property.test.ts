/**
 * Every pass, alone and in the default pipeline, computes the same function as the graph it was
 * given: on random well-typed graphs (see packages/graph/src/testing/arbitrary-graph.ts), the rewritten
 * graph matches the original in float64 (1e-9) and stays within per-op float32 tolerances of the
 * float64 oracle; the verifier passes after every pass, and no pass writes into its input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandOps } from '@loom/graph';
import { arbitraryGraphCase, RECIPE_KINDS, type RecipeKind } from '@loom/graph/testing';
import {
  decomposeComposites,
  defaultPipeline,
  eliminateCommonSubexpressions,
  eliminateDeadCode,
  foldConstants,
  fuseAddLayerNorm,
  fuseAttention,
  fuseCheapProducers,
  fuseElementwise,
  fuseMatmulEpilogue,
  fuseRopeIntoProjection,
  cpuPipeline,
  gpuPipeline,
  inferTypes,
  runPipeline,
  simplifyAlgebra,
  type Pass,
} from '../src/index.ts';
import { deepFreeze, expectSameFunction, runChecked } from './helpers.ts';

/**
 * Each pass with the recipe kinds that build what it rewrites: its property draws half its cases from
 * those (so rare patterns such as `x - 0` come up often) and half from every kind.
 */
const PASSES: readonly (readonly [Pass, readonly RecipeKind[]])[] = [
  [inferTypes, RECIPE_KINDS],
  [decomposeComposites, ['linear', 'embed', 'posenc', 'attention', 'add_norm', 'ffn', 'unary']],
  [simplifyAlgebra, ['binary', 'constant', 'reshape', 'transpose', 'cast', 'slice', 'concat', 'matmul', 'unary']],
  [foldConstants, ['constant', 'binary', 'unary', 'range', 'reshape', 'transpose', 'compare', 'where', 'cast', 'concat', 'slice', 'reduce']],
  [eliminateCommonSubexpressions, ['binary', 'unary', 'constant', 'range', 'posenc', 'attention', 'embed', 'sdpa']],
  [eliminateDeadCode, RECIPE_KINDS],
  [fuseAttention, ['sdpa', 'attention', 'unary', 'binary']],
  [fuseAddLayerNorm, ['add_norm', 'layer_norm', 'rms_norm', 'binary', 'unary']],
  [fuseElementwise, ['unary', 'binary', 'compare', 'where', 'cast', 'constant', 'reduce']],
  [fuseCheapProducers, ['unary', 'binary', 'compare', 'where', 'cast', 'constant', 'reduce']],
  [fuseMatmulEpilogue, ['matmul', 'linear', 'ffn', 'unary', 'binary', 'sdpa']],
  [fuseRopeIntoProjection, ['rope', 'linear', 'rope']],
];

const RUNS_PER_PASS = 200;

describe('each pass alone preserves the function', () => {
  for (const [pass, kinds] of PASSES) {
    // on the graph as built, and on its primitive form (where the fusions find their patterns)
    it(pass.name, () => {
      fc.assert(
        fc.property(fc.oneof(arbitraryGraphCase({ kinds }), arbitraryGraphCase()), fc.boolean(), (c, decomposed) => {
          const input = decomposed ? expandOps(c.graph, (d) => d.category === 'composite') : c.graph;
          expectSameFunction(c, runChecked(pass, input), pass.name);
        }),
        { numRuns: RUNS_PER_PASS },
      );
    });
  }
});

describe('the default pipeline', () => {
  it('preserves the function, with the verifier after every pass', () => {
    fc.assert(
      fc.property(arbitraryGraphCase(), (c) => {
        const { graph } = runPipeline(deepFreeze(c.graph), { verify: true });
        expectSameFunction(c, graph, 'pipeline');
      }),
      { numRuns: 300 },
    );
  });

  it("the cpu backend's pipeline (rope fused into projections) preserves the function too", () => {
    let fused = 0;
    fc.assert(
      fc.property(arbitraryGraphCase({ kinds: ['rope', 'linear', 'binary', 'unary'] }), (c) => {
        const { graph } = runPipeline(deepFreeze(c.graph), { passes: cpuPipeline, verify: true });
        fused += graph.nodes.filter((n) => n.op === 'fused_matmul_rope').length;
        expectSameFunction(c, graph, 'cpu pipeline');
      }),
      { numRuns: 150 },
    );
    expect(fused).toBeGreaterThan(20); // the cases do contain the pattern
  });

  it("the GPU backends' pipeline (cheap producers recomputed) preserves the function too", () => {
    let recomputed = 0;
    fc.assert(
      fc.property(arbitraryGraphCase({ kinds: ['unary', 'binary', 'compare', 'where', 'cast', 'constant', 'reduce'] }), (c) => {
        const { graph } = runPipeline(deepFreeze(c.graph), { passes: gpuPipeline, verify: true });
        recomputed += kernelsOf(runPipeline(c.graph).graph) - kernelsOf(graph);
        expectSameFunction(c, graph, 'gpu pipeline');
      }),
      { numRuns: 150 },
    );
    expect(recomputed).toBeGreaterThan(20); // the cases do give it producers to absorb
  });

  it('leaves only source, primitive and fused ops', () => {
    fc.assert(
      fc.property(arbitraryGraphCase(), (c) => {
        const { graph } = runPipeline(c.graph);
        const composite = graph.nodes.find((n) => ['linear', 'embed', 'attention', 'ffn', 'add_norm', 'causal_mask', 'padding_mask', 'sinusoidal_posenc', 'learned_posenc'].includes(n.op));
        if (composite) throw new Error(`composite ${composite.op} left`);
      }),
      { numRuns: 100 },
    );
  });

  it('is idempotent: a second run changes nothing', () => {
    fc.assert(
      fc.property(arbitraryGraphCase(), (c) => {
        const once = runPipeline(c.graph).graph;
        const twice = runPipeline(once, { passes: defaultPipeline.slice(2) }).graph;
        if (JSON.stringify(twice) !== JSON.stringify(once)) throw new Error('a second run rewrote the graph again');
      }),
      { numRuns: 100 },
    );
  });
});

/** Kernels: nodes other than sources and reshapes (views). */
function kernelsOf(graph: Parameters<typeof runPipeline>[0]): number {
  return graph.nodes.filter((n) => !['input', 'param', 'constant', 'reshape'].includes(n.op)).length;
}

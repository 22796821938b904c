/**
 * A product of several rows with an epilogue (act(x @ W + bias) + residual) runs on the cpu as one
 * job per thread (kernels.wat `gemm_epilogue`): each thread applies the epilogue to the columns of
 * the panels it just computed. Random sizes around its edges (rows by 4, panels of 8 columns, a last
 * panel cut short, chunks of panels per thread) and every epilogue the kernel knows: the answers must
 * be the float64 reference's, and 1 and 2 threads, which cut the panels differently, the same bits.
 */
import fc from 'fast-check';
import { GraphBuilder, interpret, maxAbsDiff, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { outputsOnOneAndTwoThreads } from './one-and-two-threads.ts';
import { seededF32 as f32 } from './seeded-values.ts';

interface Case {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly bias: boolean;
  readonly act: 'none' | 'relu' | 'gelu' | 'gelu_tanh';
  readonly residual: boolean;
  readonly seed: number;
}

async function check(c: Case): Promise<void> {
  const b = new GraphBuilder();
  const x = b.input('x', 'f32', [c.m, c.k]);
  let y = b.add('matmul', [x, b.param('w', 'f32', [c.k, c.n])]);
  if (c.bias) y = b.add('add', [y, b.param('b', 'f32', [c.n])]);
  if (c.act !== 'none') y = b.add(c.act, [y]);
  // the residual an intermediate (a model's is): the kernel adds it where it lies in the heap
  if (c.residual) y = b.add('add', [y, b.add('softmax', [b.input('r', 'f32', [c.m, c.n])])]);
  const graph = b.build({ y });
  const feeds: Record<string, NDArray> = { x: f32([c.m, c.k], c.seed), ...(c.residual ? { r: f32([c.m, c.n], c.seed + 1) } : {}) };
  const weights = new Map<string, NDArray>([['w', f32([c.k, c.n], c.seed + 2)], ...(c.bias ? [['b', f32([c.n], c.seed + 3)] as [string, NDArray]] : [])]);
  const want = interpret(graph, feeds, weights)['y']!;
  // smallProduct 0: even these small products run on the kernels
  const results = await outputsOnOneAndTwoThreads(graph, weights, feeds, { cpu: { smallProduct: 0 } });
  expect(results[0]!.shape).toEqual([c.m, c.n]);
  expect(maxAbsDiff(results[0]!.data, want.data)).toBeLessThan(5e-5);
  expect(results[1]!.data).toEqual(results[0]!.data);
}

describe('cpu: a product of several rows with its epilogue in the same job', () => {
  it('equals the float64 reference, with the same bits on 1 and 2 threads', async () => {
    const cases = fc.record({
      m: fc.integer({ min: 2, max: 19 }),
      k: fc.integer({ min: 1, max: 40 }),
      n: fc.integer({ min: 1, max: 150 }),
      bias: fc.boolean(),
      act: fc.constantFrom('none', 'relu', 'gelu', 'gelu_tanh') as fc.Arbitrary<Case['act']>,
      residual: fc.boolean(),
      seed: fc.integer({ min: 1, max: 1 << 20 }),
    });
    await fc.assert(fc.asyncProperty(cases, check), { numRuns: 80, seed: 2026_12_07 });
  });
});

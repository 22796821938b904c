/**
 * Rows of int8 activations against 8-bit or 4-bit codes on the pairs layout (what x86 without
 * AVX-VNNI reads 8-bit codes in, and every engine without an exact relaxed dot; forced here with
 * `quadsLayout: false`). One row (decoding) is kernels.wat `gemv_i8`, which streams four column
 * panels at once and the last one to three panels of a thread's chunk one at a time; more rows
 * (prefill) are `gemm_i`'s pairs, blocks of four rows (the last padded) sharing a quad's codes.
 * Random sizes around their edges (panels of 8, groups of four panels, a last panel cut short,
 * groups of whole quads of rows, row counts around blocks of 4, zero points or symmetric codes):
 * the answers must be the reference interpreter's on the same quantized graph (the same integers:
 * only float32 sums differ), and 1 and 2 threads, which cut the panels differently, must give the
 * same bits.
 */
import fc from 'fast-check';
import { GraphBuilder, type NDArray, type WeightQuantization } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { referenceBackend } from '../src/index.ts';
import { outputsOnOneAndTwoThreads } from './one-and-two-threads.ts';
import { compare } from './webgpu-data.ts';
import { seededF32 as f32 } from './seeded-values.ts';

interface Case {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly bits: 8 | 4;
  readonly group: number;
  readonly zeroPoints: boolean;
  readonly seed: number;
}

async function check(c: Case): Promise<void> {
  const b = new GraphBuilder();
  const x = b.input('x', 'f32', [c.m, c.k]);
  const graph = b.build({ y: b.add('matmul', [x, b.param('w', 'f32', [c.k, c.n])]) });
  const feeds = { x: f32([c.m, c.k], c.seed) };
  const weights = new Map<string, NDArray>([['w', f32([c.k, c.n], c.seed + 1)]]);
  const weightStore: WeightQuantization = { bits: c.bits, group: c.group, scales: 'f32', zeroPoints: c.zeroPoints, activations: 'int8' };
  const reference = await referenceBackend.prepare(graph, weights, { weightStore });
  const want = (await reference.run(feeds))['y']!;
  reference.dispose();
  const results = await outputsOnOneAndTwoThreads(graph, weights, feeds, { weightStore, cpu: { quadsLayout: false, smallProduct: 0 } });
  expect(compare(results[0]!, want, { atol: 1e-5, rtol: 1e-5 }).worst).toBeLessThanOrEqual(1);
  expect(results[1]!.data).toEqual(results[0]!.data);
}

describe('cpu: int8 rows against codes on the pairs layout (gemv_i8, gemm_i)', () => {
  it('equals the reference on the same quantized graph, with the same bits on 1 and 2 threads', async () => {
    const cases = fc.record({
      m: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 9 })), // one row, or blocks of 4 with a padded last one
      k: fc.integer({ min: 1, max: 150 }),
      n: fc.integer({ min: 1, max: 170 }), // up to 22 panels: groups of four, one to three more, a last panel cut short
      bits: fc.constantFrom(8, 4) as fc.Arbitrary<8 | 4>,
      group: fc.constantFrom(4, 8, 16, 32),
      zeroPoints: fc.boolean(),
      seed: fc.integer({ min: 1, max: 1 << 20 }),
    });
    await fc.assert(fc.asyncProperty(cases, check), { numRuns: 80, seed: 2026_12_07 });
  });
});

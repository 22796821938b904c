/**
 * A decoding row against a kept weight runs on the cpu's matrix-vector kernels (kernels.wat `gemv`,
 * `gemv_bf16`), which stream four column panels at once and the last one to three panels of a
 * thread's chunk one at a time. Random sizes around their edges (panels of 8 columns, groups of 4
 * panels, a last panel cut short, depths past 256) in float32 and under the bf16 store: the answers
 * must be the float64 reference's (of the weights rounded to bfloat16 for the bf16 store), and 1 and
 * 2 threads, which cut the panels differently, must give the same bits.
 */
import fc from 'fast-check';
import { GraphBuilder, interpret, maxAbsDiff, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { outputsOnOneAndTwoThreads } from './one-and-two-threads.ts';
import { seededF32 as f32 } from './seeded-values.ts';

interface Case {
  readonly k: number;
  readonly n: number;
  readonly store: 'f32' | 'bf16';
  readonly seed: number;
}

/** Each value rounded to the nearest bfloat16, ties to even (as the bf16 store keeps weights). */
function roundedToBf16(x: Float32Array): Float32Array {
  const bits = new Uint32Array(Float32Array.from(x).buffer);
  for (let i = 0; i < bits.length; i++) bits[i] = ((bits[i]! + 0x7fff + ((bits[i]! >>> 16) & 1)) >>> 16) << 16;
  return new Float32Array(bits.buffer);
}

async function check(c: Case): Promise<void> {
  const b = new GraphBuilder();
  const x = b.input('x', 'f32', [1, c.k]);
  const w = b.param('w', 'f32', [c.k, c.n]);
  const graph = b.build({ y: b.add('matmul', [x, w]) });
  const feeds = { x: f32([1, c.k], c.seed) };
  const weight = f32([c.k, c.n], c.seed + 1);
  const kept: NDArray = c.store === 'bf16' ? { ...weight, data: roundedToBf16(weight.data as Float32Array) } : weight;
  const want = interpret(graph, feeds, new Map([['w', kept]]))['y']!;
  // smallProduct 0: even these small products run on the kernels (not in JavaScript)
  const results = await outputsOnOneAndTwoThreads(graph, new Map([['w', weight]]), feeds, { cpu: { smallProduct: 0 }, weightStore: c.store });
  expect(results[0]!.shape).toEqual([1, c.n]);
  expect(maxAbsDiff(results[0]!.data, want.data)).toBeLessThan(1e-5 * Math.sqrt(c.k)); // float32 rounding of k terms in [-1, 1)
  expect(results[1]!.data).toEqual(results[0]!.data);
}

const cases = (k: number) =>
  fc.record({
    k: fc.integer({ min: 1, max: k }),
    n: fc.integer({ min: 1, max: 170 }), // up to 22 panels: groups of four, one to three more, a last panel cut short
    store: fc.constantFrom('f32', 'bf16') as fc.Arbitrary<Case['store']>,
    seed: fc.integer({ min: 1, max: 1 << 20 }),
  });

describe('cpu: one row against a kept weight, four panels at once', () => {
  it('equals the float64 reference, with the same bits on 1 and 2 threads', async () => {
    await fc.assert(fc.asyncProperty(cases(40), check), { numRuns: 60, seed: 2026_12_07 });
  });

  it('deeper than the old blocks of 256 rows', async () => {
    await fc.assert(fc.asyncProperty(cases(600), check), { numRuns: 10, seed: 2026_12_09 });
  });
});

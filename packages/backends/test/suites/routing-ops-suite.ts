/**
 * The ops a sparse mixture-of-experts and attention masks are built from (top_k, logical and/or/not,
 * expert_matmul, and moe_ffn made of them)
 * on one backend against the reference interpreter, written once and run on cpu, webgpu and webgl
 * (*-routing-ops.test.ts): torch.topk's order (ties to the lower index), k from 1 to the whole axis,
 * rows of 1 and odd primes, a symbolic number of rows, and the gradient of top_k's values.
 */
import { grad } from '@loom/compiler';
import { GraphBuilder, InputError, interpret, type Graph, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import type { Backend, BackendName } from '../../src/index.ts';
import { compare, randomF32, rng } from '../webgpu-data.ts';
import { runsOn } from './exclusions.ts';
import { suiteBackend } from './suite-backend.ts';

async function run(backend: Backend, graph: Graph, feeds: Readonly<Record<string, NDArray>>, weights: ReadonlyMap<string, NDArray> = new Map()): Promise<Record<string, NDArray>> {
  const model = await backend.prepare(graph, weights);
  try {
    return await model.run(feeds);
  } finally {
    model.dispose();
  }
}

function topKGraph(shape: (number | string)[], k: number): Graph {
  const b = new GraphBuilder();
  const x = b.input('x', 'f32', shape);
  return b.build({ values: b.add('top_k', [x], { k, output: 'values' }), indices: b.add('top_k', [x], { k, output: 'indices' }) });
}

const f32 = (shape: number[], values: number[]): NDArray => ({ dtype: 'f32', shape, data: Float32Array.from(values) });
const i32 = (shape: number[], values: number[]): NDArray => ({ dtype: 'i32', shape, data: Int32Array.from(values) });

export async function routingOpsSuite(name: BackendName): Promise<void> {
  if (!runsOn('routing ops', name)) return;
  const backend = await suiteBackend(name);
  describe.skipIf(!backend)(`${name} kernels of the routing ops`, { timeout: 180_000 }, () => {
    const b = backend!;

    it('top_k: ties go to the lower index, as torch.topk orders them', async () => {
      const x = f32([2, 6], [1, 3, 3, 0, 3, 2, -1, -1, -1, -1, -1, -1]);
      const got = await run(b, topKGraph([2, 6], 4), { x });
      expect(Array.from(got['indices']!.data)).toEqual([1, 2, 4, 5, 0, 1, 2, 3]);
      expect(Array.from(got['values']!.data)).toEqual([3, 3, 3, 2, -1, -1, -1, -1]);
    });

    it.each([
      ['one value, k 1', [1, 1], 1],
      ['k 1 of 7', [5, 7], 1],
      ['k 2 of 8 (Mixtral)', [13, 8], 2],
      ['the whole axis sorted', [3, 5], 5],
      ['rank 3, values with many ties', [2, 3, 7], 3],
    ] as const)('top_k equals the reference: %s', async (_, shape, k) => {
      const r = rng(shape.reduce((a: number, d: number) => a * d, k));
      const x = randomF32([...shape], r, -2, 2);
      // multiples of 1/4: exact in float32, and equal values are common
      x.data.forEach((v, i) => (x.data[i] = Math.round(v * 4) / 4));
      const graph = topKGraph([...shape], k);
      const [got, want] = [await run(b, graph, { x }), interpret(graph, { x }, new Map())];
      expect(Array.from(got['indices']!.data)).toEqual(Array.from(want['indices']!.data));
      expect(Array.from(got['values']!.data)).toEqual(Array.from(want['values']!.data));
    });

    it('top_k: a symbolic number of rows (tokens) bound at run time', async () => {
      const graph = topKGraph(['tokens', 8], 2);
      for (const tokens of [1, 11]) {
        const x = randomF32([tokens, 8], rng(tokens), -1, 1);
        const got = await run(b, graph, { x });
        expect(Array.from(got['indices']!.data)).toEqual(Array.from(interpret(graph, { x }, new Map())['indices']!.data));
      }
    });

    it("top_k: the gradient of its values reaches the picked positions only, once each", async () => {
      const g = new GraphBuilder();
      const w = g.param('w', 'f32', [3, 5]);
      const top = g.add('top_k', [w], { k: 2, output: 'values' });
      const loss = g.add('reduce_sum', [g.add('mul', [top, g.constant([1, 10], [2])])], { axes: [0, 1], keepDims: false });
      const graph = grad(g.build({ loss }), { loss: 'loss' });
      const weights = new Map([['w', f32([3, 5], [0, 4, 1, 4, 2, 5, 5, 5, 0, 0, -1, -2, -3, -4, -5])]]);
      const got = await run(b, graph, {}, weights);
      expect(Array.from(got['grad.w']!.data)).toEqual([0, 1, 0, 10, 0, 1, 10, 0, 0, 0, 1, 10, 0, 0, 0]);
    });

    it('expert_matmul: shared rows and one row per id, transposed experts, the rows of a token summed, a symbolic number of tokens', async () => {
      for (const transposeB of [false, true]) {
        const g = new GraphBuilder();
        const x = g.input('x', 'f32', ['tokens', 1, 6]);
        const h = g.input('h', 'f32', ['tokens', 2, 5]);
        const ids = g.input('ids', 'i32', ['tokens', 2]);
        const w1 = g.input('w1', 'f32', transposeB ? [3, 5, 6] : [3, 6, 5]);
        const w2 = g.input('w2', 'f32', transposeB ? [3, 4, 5] : [3, 5, 4]);
        const graph = g.build({
          up: g.add('expert_matmul', [x, w1, ids], { transposeB }),
          down: g.add('expert_matmul', [h, w2, ids], { transposeB }),
          combined: g.add('expert_matmul', [h, w2, ids], { transposeB, sum: true }), // each token's two products added
        });
        const r = rng(transposeB ? 3 : 4);
        for (const tokens of [1, 7]) {
          const feeds = {
            x: randomF32([tokens, 1, 6], r),
            h: randomF32([tokens, 2, 5], r),
            ids: i32([tokens, 2], Array.from({ length: tokens * 2 }, (_, i) => (i * 5 + tokens) % 3)),
            w1: randomF32(transposeB ? [3, 5, 6] : [3, 6, 5], r),
            w2: randomF32(transposeB ? [3, 4, 5] : [3, 5, 4], r),
          };
          const [got, want] = [await run(b, graph, feeds), interpret(graph, feeds, new Map())];
          for (const name of ['up', 'down', 'combined']) expect(compare(got[name]!, want[name]!, { atol: 1e-5, rtol: 1e-5 }).worst, name).toBeLessThanOrEqual(1);
        }
      }
    });

    it('expert_matmul: an id outside the experts, fed or computed, is an InputError naming the op and the position', async () => {
      const g = new GraphBuilder();
      const x = g.input('x', 'f32', [3, 2]);
      const w = g.input('w', 'f32', [2, 2, 2]);
      const ids = g.input('ids', 'i32', [3]);
      const fed = g.build({ y: g.add('expert_matmul', [x, w, ids]) });
      const feeds = { x: randomF32([3, 2], rng(1)), w: randomF32([2, 2, 2], rng(2)), ids: i32([3], [0, 1, 2]) };
      const error = await run(b, fed, feeds).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).toMatch(/2 at position 2|position 2/);
      const g2 = new GraphBuilder();
      const [x2, w2, ids2] = [g2.input('x', 'f32', [3, 2]), g2.input('w', 'f32', [2, 2, 2]), g2.input('ids', 'i32', [3])];
      const computed = g2.build({ y: g2.add('expert_matmul', [x2, w2, g2.add('add', [ids2, g2.constant(1, [], 'i32')])]) });
      const error2 = await run(b, computed, { ...feeds, ids: i32([3], [0, 1, 0]) }).then(() => undefined, (e: unknown) => e);
      expect(error2).toBeInstanceOf(InputError);
      expect((error2 as Error).message).toMatch(/expert_matmul/);
      expect((error2 as Error).message).toMatch(/position 1/);
    });

    it('moe_ffn (8 experts, top 2, Mixtral\'s renormalized weights) over a symbolic number of tokens equals the reference', async () => {
      const g = new GraphBuilder();
      const x = g.input('x', 'f32', ['tokens', 8]);
      const params = [g.input('router', 'f32', [8, 8]), g.input('gate', 'f32', [8, 8, 12]), g.input('up', 'f32', [8, 8, 12]), g.input('down', 'f32', [8, 12, 8])];
      const graph = g.build({ y: g.add('moe_ffn', [x, ...params], { k: 2 }) });
      const r = rng(9);
      const feeds = { x: randomF32([5, 8], r), router: randomF32([8, 8], r), gate: randomF32([8, 8, 12], r), up: randomF32([8, 8, 12], r), down: randomF32([8, 12, 8], r) };
      const [got, want] = [await run(b, graph, feeds), interpret(graph, feeds, new Map())];
      expect(compare(got['y']!, want['y']!, { atol: 2e-5, rtol: 2e-5 }).worst).toBeLessThanOrEqual(1);
    });

    it('logical_and, logical_or, logical_not on masks (nonzero is true), broadcast', async () => {
      const g = new GraphBuilder();
      const a = g.input('a', 'i32', [2, 3]);
      const c = g.input('c', 'i32', [3]);
      const graph = g.build({
        and: g.add('logical_and', [a, c]),
        or: g.add('logical_or', [a, c]),
        not: g.add('logical_not', [a]),
        // a window inside a causal mask, as masks combine them
        window: g.add('logical_and', [g.add('greater_equal', [a, g.constant(0, [], 'i32')]), g.add('less', [a, g.constant(2, [], 'i32')])]),
      });
      const feeds = { a: i32([2, 3], [0, 1, -3, 2, 0, 7]), c: i32([3], [5, 0, 1]) };
      const got = await run(b, graph, feeds);
      expect(Array.from(got['and']!.data)).toEqual([0, 0, 1, 1, 0, 1]);
      expect(Array.from(got['or']!.data)).toEqual([1, 1, 1, 1, 0, 1]);
      expect(Array.from(got['not']!.data)).toEqual([1, 0, 0, 0, 1, 0]);
      expect(Array.from(got['window']!.data)).toEqual([1, 1, 0, 0, 1, 0]);
    });
  });
}

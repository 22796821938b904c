/**
 * A cpu program keeps each kernel's arguments (input and output views, shapes, layouts) from one run
 * to the next at the same sizes, and a graph's vector params (biases, a norm's gamma and beta) in the
 * heap. The answers must stay the interpreter's when the fed values change at the same sizes (a
 * kept argument cut from last run's feed would read it), when a view reads a feed, when a state
 * starts over, and when the sizes change and change back.
 */
import { interpret, ModelBuilder, type Graph, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { cpuBackend, randomWeights, type CpuProgram } from '../src/index.ts';
import { maxDiff } from './max-diff.ts';

/** A feed read directly and through strided views (a column slice, a transpose), then products, a bias and a layer norm (vector params). */
function viewsOfFeeds(): Graph {
  const m = new ModelBuilder();
  const x = m.input('x', 'f32', ['rows', 6] as const);
  const w = m.param('w', [6, 6] as const);
  const columns = m.matmul(m.slice(x, 1, 1, 4), m.param('w3', [3, 6] as const));
  const y = m.layerNorm(m.add(m.linear(x, w, m.param('bias', [6] as const)), columns), m.param('gamma', [6] as const), m.param('beta', [6] as const));
  return m.build({ y, gram: m.matmul(m.transpose(x, [1, 0]), x) });
}

/** A running sum kept as a state: out = cache_update(state, x) read back whole. */
function accumulating(): Graph {
  const m = new ModelBuilder();
  const cache = m.state('cache', 'f32', [1, 4, 3] as const);
  const x = m.input('x', 'f32', [1, 1, 3] as const);
  const position = m.input('position', 'i32', [1] as const);
  const next = m.cacheUpdate(cache.value, x, position, 1);
  cache.write(next);
  return m.build({ total: m.reduce('sum', next, [1]) });
}

const rows = (n: number, seed: number): NDArray => ({ dtype: 'f32', shape: [n, 6], data: Float32Array.from({ length: n * 6 }, (_, i) => Math.sin(seed * 7.3 + i)) });

describe('cpu: kernel arguments kept across runs', () => {
  it.each([
    ['default', {}],
    ['poison mode', { poison: true }],
  ] as const)('equal the interpreter as feeds and sizes change (%s)', async (_, options) => {
    const graph = viewsOfFeeds();
    const weights = randomWeights(graph, 3);
    const model = (await cpuBackend.prepare(graph, weights, { cpu: options })) as Awaited<ReturnType<typeof cpuBackend.prepare>> & { program: CpuProgram };
    expect(model.program.plan.stridedViews?.length, 'the slice and the transpose of the feed are views').toBe(2);
    for (const [n, seed] of [[3, 1], [3, 2], [3, 3], [5, 4], [3, 5], [3, 6]] as const) {
      const feeds = { x: rows(n, seed) };
      const got = await model.run(feeds);
      const want = interpret(graph, feeds, weights);
      expect(maxDiff(got['y']!, want['y']!), `rows ${n}, seed ${seed}`).toBeLessThan(1e-5);
      expect(maxDiff(got['gram']!, want['gram']!), `rows ${n}, seed ${seed}`).toBeLessThan(1e-5);
    }
    model.dispose();
  });

  it('a state that starts over is read from its new array', async () => {
    const graph = accumulating();
    const model = (await cpuBackend.prepare(graph, new Map())) as Awaited<ReturnType<typeof cpuBackend.prepare>> & { program: CpuProgram };
    const step = async (values: number[], position: number) =>
      Array.from((await model.run({ x: { dtype: 'f32', shape: [1, 1, 3], data: Float32Array.from(values) }, position: { dtype: 'i32', shape: [1], data: Int32Array.from([position]) } }))['total']!.data);
    expect(await step([1, 2, 3], 0)).toEqual([1, 2, 3]);
    expect(await step([10, 20, 30], 1)).toEqual([11, 22, 33]);
    expect(model.program.keptArguments()).toBeGreaterThan(0);
    model.state.clear(); // a new array at the next run, not the one the kept arguments were cut from
    expect(model.program.keptArguments(), 'the dropped state is not held by kept arguments').toBe(0);
    expect(await step([5, 5, 5], 0)).toEqual([5, 5, 5]);
    expect(await step([1, 1, 1], 2)).toEqual([6, 6, 6]);
    model.state.clear({ reuse: true }); // the same array, zeroed
    expect(await step([2, 2, 2], 3)).toEqual([2, 2, 2]);
    model.dispose();
  });

  it("reads vector params from its own copies in the heap, not the caller's arrays", async () => {
    const graph = viewsOfFeeds();
    const weights = randomWeights(graph, 3);
    const model = await cpuBackend.prepare(graph, weights);
    const feeds = { x: rows(2, 9) };
    const before = (await model.run(feeds))['y']!;
    (weights.get('gamma')!.data as Float32Array).fill(0); // after prepare: the model read its weights then
    expect(maxDiff((await model.run(feeds))['y']!, before)).toBe(0);
    model.dispose();
  });
});

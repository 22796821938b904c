import { GraphBuilder, interpret, maxAbsDiff, type Graph, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { compile } from '@loom/compiler';
import { cpuBackend, CpuProgram, StateStore, withPrepareOptions } from '../src/index.ts';
import { seededF32 as f32 } from './seeded-values.ts';

async function expectAgreement(graph: Graph, feeds: Record<string, NDArray>, weights = new Map<string, NDArray>(), tol = 2e-5) {
  const want = interpret(graph, feeds, weights);
  const model = await cpuBackend.prepare(graph, weights);
  const got = await model.run(feeds);
  for (const [name, expected] of Object.entries(want)) {
    expect(got[name]!.shape).toEqual(expected.shape);
    expect(maxAbsDiff(got[name]!.data, expected.data)).toBeLessThan(tol);
  }
  return model;
}

describe('CPU kernels agree with the float64 reference', () => {
  it.each([
    [1, 7, 13],
    [33, 65, 17],
    [5, 1, 3],
    [64, 64, 64],
  ])('matmul %i x %i x %i, plain and transposed, batched with broadcasting', async (m, k, n) => {
    const b = new GraphBuilder();
    const a = b.input('a', 'f32', [2, m, k]);
    const w = b.input('w', 'f32', [k, n]);
    const wt = b.input('wt', 'f32', [n, k]);
    const g = b.build({ y: b.add('matmul', [a, w]), yt: b.add('matmul', [a, wt], { transposeB: true }) });
    await expectAgreement(g, { a: f32([2, m, k], 1), w: f32([k, n], 2), wt: f32([n, k], 3) }, undefined, 1e-4);
  });

  it('fused elementwise with broadcasting from both sides and i32 comparisons', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['batch', 1, 5]);
    const y = b.input('y', 'f32', [3, 1]);
    const expr = { op: 'where', args: [{ op: 'greater', args: [{ in: 0 }, { in: 1 }] }, { op: 'gelu_tanh', args: [{ in: 0 }] }, { op: 'mul', args: [{ in: 1 }, { const: 2, dtype: 'f32' }] }] };
    const g = b.build({ z: b.add('fused_elementwise', [x, y], { expr }) });
    await expectAgreement(g, { x: f32([2, 1, 5], 4), y: f32([3, 1], 5) });
  });

  it('fused matmul epilogue: bias, activation and residual', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['batch', 'seq', 8]);
    const w = b.param('w', 'f32', [8, 6]);
    const bias = b.param('bias', 'f32', [6]);
    const res = b.input('res', 'f32', ['batch', 'seq', 6]);
    const epilogue = { op: 'add', args: [{ op: 'relu', args: [{ op: 'add', args: [{ in: 0 }, { in: 1 }] }] }, { in: 2 }] };
    const g = b.build({ y: b.add('fused_matmul', [x, w, bias, res], { epilogue }) });
    const weights = new Map([['w', f32([8, 6], 6)], ['bias', f32([6], 7)]]);
    await expectAgreement(g, { x: f32([2, 3, 8], 8), res: f32([2, 3, 6], 9) }, weights);
  });

  it('fused attention with a broadcast mask and Tq != Tk', async () => {
    const b = new GraphBuilder();
    const q = b.input('q', 'f32', [2, 3, 4, 8]);
    const k = b.input('k', 'f32', [2, 3, 7, 8]);
    const v = b.input('v', 'f32', [2, 3, 7, 5]);
    const mask = b.input('mask', 'f32', [2, 1, 1, 7]);
    const g = b.build({ y: b.add('fused_attention', [q, k, v, mask], { scale: 0.35 }) });
    const m = f32([2, 1, 1, 7], 10);
    m.data.forEach((x, i) => ((m.data as Float32Array)[i] = x > 0.5 ? -1e30 : 0));
    await expectAgreement(g, { q: f32([2, 3, 4, 8], 11), k: f32([2, 3, 7, 8], 12), v: f32([2, 3, 7, 5], 13), mask: m });
  });

  it.each([
    [16, 16, 9],
    [37, 20, 13],
    [64, 64, 33],
    [67, 51, 6],
  ])('fused attention with head sizes %i (keys) and %i (values) over %i keys: the sixteen-float steps, their tails, a causal mask', async (dh, dv, tk) => {
    // the kernel takes 16 floats a step, then 4, then 1: these sizes reach each part; the mask hides
    // the keys after each query (as a causal mask does) and some before
    const tq = 5;
    const b = new GraphBuilder();
    const q = b.input('q', 'f32', [1, 2, tq, dh]);
    const k = b.input('k', 'f32', [1, 2, tk, dh]);
    const v = b.input('v', 'f32', [1, 2, tk, dv]);
    const mask = b.input('mask', 'f32', [1, 1, tq, tk]);
    const g = b.build({ y: b.add('fused_attention', [q, k, v, mask], { scale: 1 / Math.sqrt(dh) }) });
    const m = f32([1, 1, tq, tk], 20);
    m.data.forEach((x, i) => ((m.data as Float32Array)[i] = i % tk > (i / tk | 0) + tk - tq || x > 0.8 ? -1e30 : x));
    await expectAgreement(g, { q: f32([1, 2, tq, dh], 21), k: f32([1, 2, tk, dh], 22), v: f32([1, 2, tk, dv], 23), mask: m });
  });

  it('softmax on an inner axis, reductions, layer norm, fused add + layer norm', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [3, 4, 5]);
    const r = b.input('r', 'f32', [3, 4, 5]);
    const gamma = b.param('gamma', 'f32', [5]);
    const beta = b.param('beta', 'f32', [5]);
    const g = b.build({
      s: b.add('softmax', [x], { axis: 1 }),
      sum: b.add('reduce_sum', [x], { axes: [0, 2] }),
      max: b.add('reduce_max', [x], { axes: [1], keepDims: true }),
      mean: b.add('reduce_mean', [x], { axes: [-1] }),
      ln: b.add('layer_norm', [x, gamma, beta], { eps: 1e-5 }),
      aln: b.add('fused_add_layer_norm', [x, r, gamma, beta], { eps: 1e-5 }),
    });
    await expectAgreement(g, { x: f32([3, 4, 5], 14), r: f32([3, 4, 5], 15) }, new Map([['gamma', f32([5], 16)], ['beta', f32([5], 17)]]));
  });

  it('data movement: gather, transpose, slice with step and negative start, concat, range', async () => {
    const b = new GraphBuilder();
    const table = b.param('table', 'f32', [6, 4]);
    const ids = b.input('ids', 'i32', ['batch', 3]);
    const x = b.input('x', 'f32', [2, 3, 5]);
    const g = b.build({
      rows: b.add('gather', [table, ids]),
      t: b.add('transpose', [x], { perm: [2, 0, 1] }),
      s: b.add('slice', [x], { axis: 2, start: -4, end: null, step: 2 }),
      c: b.add('concat', [x, x], { axis: 1 }),
      r: b.add('range', [], { size: 'batch', start: 3, step: 2 }),
    });
    await expectAgreement(g, { ids: { dtype: 'i32', shape: [2, 3], data: Int32Array.from([0, 5, 2, 3, 3, 1]) }, x: f32([2, 3, 5], 18) }, new Map([['table', f32([6, 4], 19)]]));
  });

  it.each([
    ['trailing axes (one sum per row)', [48, 37, 40], [2], 'reduce_sum'],
    ['trailing axes, two of them, and a size-1 axis', [3, 1, 96, 130], [2, 3], 'reduce_mean'],
    ['leading axes (one sum per column; a narrow last block)', [12, 50, 77], [0, 1], 'reduce_sum'],
    ['leading axes, mean', [300, 131], [0], 'reduce_mean'],
    ['an axis in the middle (the JavaScript loop)', [20, 30, 60], [1], 'reduce_sum'],
    ['every axis', [64, 600], [0, 1], 'reduce_sum'],
  ] as const)('%s: sums on the kernels, on 2 threads, equal the reference', async (_, shape, axes, op) => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [...shape]);
    const g = b.build({ y: b.add(op, [b.add('relu', [x])], { axes: [...axes], keepDims: false }) });
    const model = await withPrepareOptions(cpuBackend, { cpu: { threads: 2, pauseWhenContended: false } }).prepare(g, new Map());
    const feeds = { x: f32([...shape], 11) };
    const want = interpret(g, feeds, new Map());
    const got = await model.run(feeds);
    expect(got['y']!.shape).toEqual(want['y']!.shape);
    const count = (shape as readonly number[]).reduce((p, d) => p * d, 1) / want['y']!.data.length;
    expect(maxAbsDiff(got['y']!.data, want['y']!.data)).toBeLessThan(1e-6 * (op === 'reduce_sum' ? count : 1) + 1e-6);
    model.dispose();
  });

  it.each([
    [130, 257, 33],
    [64, 1024, 128],
    [7, 40, 9],
  ])('a weight gradient X^T dY (X [%i, k] viewed transposed, k = %i, n = %i) packs A from X in place, on 1 and 2 threads', async (m, k, n) => {
    const b = new GraphBuilder();
    const x = b.add('relu', [b.input('x', 'f32', [k, m])]);
    const dy = b.add('relu', [b.input('dy', 'f32', [k, n])]);
    const g = b.build({ y: b.add('matmul', [b.add('transpose', [x], { perm: [1, 0] }), dy]) });
    const feeds = { x: f32([k, m], 21), dy: f32([k, n], 22) };
    const want = interpret(g, feeds, new Map());
    for (const threads of [1, 2]) {
      const model = await withPrepareOptions(cpuBackend, { cpu: { threads, pauseWhenContended: false } }).prepare(g, new Map());
      expect(maxAbsDiff((await model.run(feeds))['y']!.data, want['y']!.data)).toBeLessThan(1e-5 * k);
      model.dispose();
    }
  });

  it.each([
    ['evenly spaced batches: one job split by batches', [3, 5, 37, 29], [3, 5, 23, 29]],
    ['a B shared by the first axis: evenly spaced no more, one product per batch', [3, 5, 37, 29], [5, 23, 29]],
    ['one B for every batch: all the rows in one product', [3, 5, 37, 29], [1, 1, 23, 29]],
  ] as const)('batched products each too small to split, %s, on 1 and 2 threads', async (_, aShape, bShape) => {
    const b = new GraphBuilder();
    const x = b.add('relu', [b.input('x', 'f32', [...aShape])]);
    const w = b.add('relu', [b.input('w', 'f32', [...bShape])]);
    const g = b.build({ y: b.add('matmul', [x, w], { transposeB: true }) });
    const feeds = { x: f32([...aShape], 31), w: f32([...bShape], 32) };
    const want = interpret(g, feeds, new Map());
    for (const threads of [1, 2]) {
      const model = await withPrepareOptions(cpuBackend, { cpu: { threads, parallelFrom: 40_000, pauseWhenContended: false } }).prepare(g, new Map());
      expect(maxAbsDiff((await model.run(feeds))['y']!.data, want['y']!.data)).toBeLessThan(1e-5);
      model.dispose();
    }
  });

  it('a gather index outside the table is an error naming the table', async () => {
    const b = new GraphBuilder();
    const g = b.build({ y: b.add('gather', [b.param('wte', 'f32', [4, 2]), b.input('ids', 'i32', [2])]) });
    const model = await cpuBackend.prepare(g, new Map([['wte', f32([4, 2], 1)]]));
    await expect(model.run({ ids: { dtype: 'i32', shape: [2], data: Int32Array.from([1, 4]) } })).rejects.toThrow(/gather from 'wte': index 4 at position 1/);
  });

  it('exposes one generated JavaScript function per kernel: SIMD elementwise where it has the ops, a JavaScript loop where not', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [4]);
    const g = b.build({ y: b.add('exp', [b.add('neg', [x])]), z: b.add('sin', [x]) });
    const source = (await CpuProgram.create(compile(g, { inPlace: true }), new Map())).source();
    expect(source).toMatch(/function kernel_\d+_/);
    expect(source).toMatch(/rt\.elementwise\(.*"exp"/);
    expect(source).toContain('Math.sin');
  });

  it('updates a state in place across runs and shares it through a StateStore', async () => {
    const b = new GraphBuilder();
    const cache = b.input('cache', 'f32', [1, 6, 2]);
    const update = b.input('update', 'f32', [1, 'seq', 2]);
    const position = b.input('position', 'i32', [1]);
    const updated = b.add('cache_update', [cache, update, position], { axis: 1 });
    const g = b.build({ cache: updated, total: b.add('reduce_sum', [updated], { axes: [1] }) });
    const state = new StateStore();
    const model = await cpuBackend.prepare(g, new Map(), { state });
    const step = (p: number, vals: number[]) =>
      model.run({ update: { dtype: 'f32', shape: [1, vals.length / 2, 2], data: Float32Array.from(vals) }, position: { dtype: 'i32', shape: [1], data: Int32Array.from([p]) } });
    await step(0, [1, 2, 3, 4]);
    const out = await step(2, [10, 20]);
    expect(Array.from(out['total']!.data)).toEqual([14, 26]);
    expect(out['cache']).toBeUndefined();
    expect(Array.from(state.get('cache')!.data)).toEqual([1, 2, 3, 4, 10, 20, 0, 0, 0, 0, 0, 0]);
    await expect(step(5, [1, 1, 2, 2])).rejects.toThrow(/do not fit a cache of 6/);
  });

});

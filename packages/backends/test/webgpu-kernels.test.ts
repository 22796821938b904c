import fc from 'fast-check';
import { BINARY_FUNCTIONS, COMPARE_FUNCTIONS, GraphBuilder, MASKED, UNARY_FUNCTIONS, type Expr, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { expectMatchesReference, gpu, gpuWithLimits, oneOp, randomF32, randomI32, rng } from './webgpu-helpers.ts';

/**
 * Per-kernel conformance of the WebGPU backend with the float64 reference interpreter: every kernel
 * kind on shapes that include 1 and odd primes, plus fast-check properties with few runs
 * (SwiftShader is a CPU emulation of a GPU).
 */

const f32 = (...shape: number[]) => ({ dtype: 'f32' as const, shape });
const i32 = (...shape: number[]) => ({ dtype: 'i32' as const, shape });

describe.skipIf(!gpu)('webgpu kernels', { timeout: 120_000 }, () => {
  it('every elementwise op of the op table, with broadcasting', async () => {
    const r = rng(1);
    const b = new GraphBuilder();
    const a = b.input('a', 'f32', [3, 1, 5]);
    const c = b.input('c', 'f32', [4, 5]);
    const pos = b.input('pos', 'f32', [7]);
    const ia = b.input('ia', 'i32', [3, 4, 1]);
    const ic = b.input('ic', 'i32', [5]);
    const outs: Record<string, number> = {};
    for (const op of Object.keys(UNARY_FUNCTIONS)) {
      outs[op] = b.add(op, [['log', 'sqrt', 'rsqrt'].includes(op) ? pos : a]);
      if (UNARY_FUNCTIONS[op as keyof typeof UNARY_FUNCTIONS].ints) outs[`${op}_i32`] = b.add(op, [ia]);
    }
    for (const op of Object.keys(BINARY_FUNCTIONS)) {
      outs[op] = b.add(op, [a, c]);
      if (BINARY_FUNCTIONS[op as keyof typeof BINARY_FUNCTIONS].ints) outs[`${op}_i32`] = b.add(op, [ia, ic]);
    }
    for (const op of Object.keys(COMPARE_FUNCTIONS)) {
      outs[op] = b.add(op, [a, c]);
      outs[`${op}_i32`] = b.add(op, [ia, ic]);
    }
    outs['where'] = b.add('where', [b.add('less', [a, c]), a, c]);
    outs['where_i32'] = b.add('where', [b.add('greater', [ia, ic]), ia, b.add('neg', [ic])]);
    outs['cast_to_i32'] = b.add('cast', [b.add('mul', [a, b.constant(10)])], { dtype: 'i32' });
    outs['cast_to_f32'] = b.add('cast', [ia], { dtype: 'f32' });
    const graph = b.build(outs);
    // halves so that equal/not_equal see ties; integer exponents in c so pow of negative bases is defined
    const halves = (shape: number[]): NDArray => ({ dtype: 'f32', shape, data: Float32Array.from(randomF32(shape, r, -3, 3).data, (v) => Math.round(v * 2) / 2) });
    const feeds = { a: halves([3, 1, 5]), c: halves([4, 5]), pos: randomF32([7], r, 0.05, 5), ia: randomI32([3, 4, 1], r, -9, 9), ic: randomI32([5], r, -3, 3) };
    feeds.ic.data[0] = 0; // i32 division by zero gives 0 like the reference's Int32Array store
    await expectMatchesReference(graph, feeds, new Map(), { atol: 2e-6, rtol: 2e-6 });
  });

  it('unary functions hold float32 accuracy over a wide range', async () => {
    const values = Float32Array.from({ length: 2001 }, (_, i) => (i - 1000) / 40); // -25 .. 25
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [values.length]);
    const outs = Object.fromEntries(['tanh', 'sigmoid', 'gelu', 'gelu_tanh', 'erf', 'sin', 'cos', 'exp'].map((op) => [op, b.add(op, [x])]));
    await expectMatchesReference(b.build(outs), { x: { dtype: 'f32', shape: [values.length], data: values } }, new Map(), { atol: 1e-6, rtol: 2e-6 });
  });

  it('fused_elementwise: random expression trees over broadcast inputs (property)', async () => {
    const leaf = (inputs: number) => fc.oneof(fc.integer({ min: 0, max: inputs - 1 }).map((k): Expr => ({ in: k })), fc.double({ min: -2, max: 2, noNaN: true }).map((v): Expr => ({ const: v, dtype: 'f32' })));
    const exprOf = (inputs: number) =>
      fc.letrec<{ e: Expr }>((tie) => ({
        e: fc.oneof(
          { depthSize: 'small', withCrossShrink: true },
          leaf(inputs),
          fc.record({ op: fc.constantFrom('neg', 'abs', 'tanh', 'sigmoid', 'relu', 'gelu_tanh', 'sin'), args: fc.tuple(tie('e')) }),
          fc.record({ op: fc.constantFrom('add', 'sub', 'mul', 'maximum', 'minimum'), args: fc.tuple(tie('e'), tie('e')) }),
          fc.record({ cond: fc.tuple(tie('e'), tie('e')), a: tie('e'), b: tie('e') }).map((w): Expr => ({ op: 'where', args: [{ op: 'less', args: w.cond }, w.a, w.b] })),
        ),
      })).e as fc.Arbitrary<Expr>;
    const shapes = [[[2, 3, 5]], [[2, 3, 5], [5]], [[7, 1], [1, 3], [7, 3]], [[2, 1, 4], [3, 1], [1]]] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...shapes).chain((inputShapes) => fc.tuple(fc.constant(inputShapes), exprOf(inputShapes.length), fc.nat(1000))),
        async ([inputShapes, expr, seed]) => {
          // the expression must read every input: add the unread ones
          let full: Expr = expr;
          for (let k = 0; k < inputShapes.length; k++) if (!JSON.stringify(full).includes(`{"in":${k}}`)) full = { op: 'add', args: [full, { in: k }] };
          const r = rng(seed);
          const b = new GraphBuilder();
          const ins = inputShapes.map((s, k) => b.input(`x${k}`, 'f32', s));
          const graph = b.build({ y: b.add('fused_elementwise', ins, { expr: full }) });
          const feeds = Object.fromEntries(inputShapes.map((s, k) => [`x${k}`, randomF32(s, r, -2, 2)]));
          await expectMatchesReference(graph, feeds, new Map(), { atol: 1e-5, rtol: 1e-5 });
        },
      ),
      { numRuns: 12, seed: 42 },
    );
  });

  const matmulCases: [string, number[], number[], boolean][] = [
    ['1x7x13', [1, 7], [7, 13], false],
    ['33x65x17', [33, 65], [65, 17], false],
    ['64x64x64', [64, 64], [64, 64], false],
    ['65x1x3', [65, 1], [1, 3], false],
    ['skinny 4x130x300 (K in 3 slices)', [4, 130], [130, 300], false],
    ['skinny 3x130x257 transposeB', [3, 130], [257, 130], true],
    ['9x70x5 (just past skinny)', [9, 70], [70, 5], false],
    ['2x130x129 transposeB', [2, 130], [129, 130], true],
    ['batch broadcast b', [2, 3, 5, 7], [3, 7, 4], false],
    ['batch broadcast a', [5, 7], [2, 7, 3], false],
    ['batch folds into M', [2, 5, 7], [7, 3], false],
    ['batched transposeB (q k^T)', [2, 3, 11, 8], [2, 3, 13, 8], true],
    ['both batch axes broadcast', [2, 1, 9, 5], [1, 3, 5, 6], false],
  ];
  for (const [name, aShape, bShape, transposeB] of matmulCases) {
    it(`matmul ${name}`, async () => {
      const r = rng(aShape.length * 100 + bShape[0]!);
      const graph = oneOp('matmul', [f32(...aShape), f32(...bShape)], { transposeB });
      const k = aShape[aShape.length - 1]!;
      await expectMatchesReference(graph, { x0: randomF32(aShape, r), x1: randomF32(bShape, r) }, new Map(), { atol: 1e-6 * k, rtol: 1e-5 });
    });
  }

  it('matmul: random shapes, batches and transposeB (property)', async () => {
    const dim = fc.integer({ min: 1, max: 70 });
    await fc.assert(
      fc.asyncProperty(dim, dim, dim, fc.constantFrom<number[][]>([[], []], [[3], []], [[], [2]], [[2, 1], [3]], [[2], [2]]), fc.boolean(), fc.nat(1000), async (m, k, n, [ba, bb], transposeB, seed) => {
        const r = rng(seed);
        const aShape = [...ba!, m, k];
        const bShape = [...bb!, ...(transposeB ? [n, k] : [k, n])];
        const graph = oneOp('matmul', [f32(...aShape), f32(...bShape)], { transposeB });
        await expectMatchesReference(graph, { x0: randomF32(aShape, r), x1: randomF32(bShape, r) }, new Map(), { atol: 1e-6 * k, rtol: 1e-5 });
      }),
      { numRuns: 10, seed: 7 },
    );
  });

  it('fused_matmul: bias, gelu and residual in the epilogue; weights as params', async () => {
    const r = rng(3);
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['batch', 9, 24]);
    const w = b.param('w', 'f32', [24, 31]);
    const bias = b.param('bias', 'f32', [31]);
    const residual = b.input('res', 'f32', ['batch', 9, 31]);
    const epilogue: Expr = { op: 'add', args: [{ op: 'gelu_tanh', args: [{ op: 'add', args: [{ in: 0 }, { in: 1 }] }] }, { in: 2 }] };
    const graph = b.build({ y: b.add('fused_matmul', [x, w, bias, residual], { epilogue }) });
    const weights = new Map([['w', randomF32([24, 31], r)], ['bias', randomF32([31], r)]]);
    for (const batch of [1, 3]) {
      await expectMatchesReference(graph, { x: randomF32([batch, 9, 24], r), res: randomF32([batch, 9, 31], r) }, weights, { atol: 3e-5 });
    }
  });

  const reduceCases: [string, number[], number[], boolean][] = [
    ['last axis', [3, 4, 5], [-1], false],
    ['first axis, kept', [3, 4, 5], [0], true],
    ['two axes', [3, 4, 5], [0, 2], false],
    ['all axes', [3, 4, 5], [0, 1, 2], true],
    ['long rows (workgroup)', [3, 301], [1], false],
    ['long strided columns (workgroup)', [301, 3], [0], true],
    ['middle axes (workgroup)', [2, 17, 11, 3], [1, 2], false],
  ];
  for (const [name, shape, axes, keepDims] of reduceCases) {
    it(`reduce_sum / reduce_mean / reduce_max over ${name}`, async () => {
      const r = rng(shape.length + axes.length);
      const b = new GraphBuilder();
      const x = b.input('x', 'f32', shape);
      const xi = b.input('xi', 'i32', shape);
      const graph = b.build({
        sum: b.add('reduce_sum', [x], { axes, keepDims }),
        mean: b.add('reduce_mean', [x], { axes, keepDims }),
        max: b.add('reduce_max', [x], { axes, keepDims }),
        max_i32: b.add('reduce_max', [xi], { axes, keepDims }),
      });
      await expectMatchesReference(graph, { x: randomF32(shape, r), xi: randomI32(shape, r, -1000, 1000) }, new Map(), { atol: 1e-5 });
    });
  }

  it('softmax along every axis, with large and masked scores', async () => {
    const r = rng(5);
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [5, 4, 70]);
    const graph = b.build({ a0: b.add('softmax', [x], { axis: 0 }), a1: b.add('softmax', [x], { axis: 1 }), a2: b.add('softmax', [x], { axis: -1 }) });
    const data = randomF32([5, 4, 70], r, -30, 30);
    for (let i = 0; i < data.data.length; i += 7) data.data[i] = MASKED;
    await expectMatchesReference(graph, { x: data }, new Map(), { atol: 1e-6, rtol: 1e-5 });
  });

  it('layer_norm and fused_add_layer_norm (rows of 1, 96 and 700)', async () => {
    const r = rng(6);
    for (const d of [1, 96, 700]) {
      const b = new GraphBuilder();
      const x = b.input('x', 'f32', [2, 3, d]);
      const res = b.input('res', 'f32', [2, 3, d]);
      const gamma = b.param('gamma', 'f32', [d]);
      const beta = b.param('beta', 'f32', [d]);
      const graph = b.build({
        ln: b.add('layer_norm', [x, gamma, beta], { eps: 1e-5 }),
        fused: b.add('fused_add_layer_norm', [x, res, gamma, beta], { eps: 1e-5 }),
      });
      const weights = new Map([['gamma', randomF32([d], r, 0.5, 1.5)], ['beta', randomF32([d], r)]]);
      await expectMatchesReference(graph, { x: randomF32([2, 3, d], r, -3, 5), res: randomF32([2, 3, d], r) }, weights, { atol: 2e-5, rtol: 2e-5 });
    }
  });

  const attentionCases: [string, number, number, number, number, number[] | null][] = [
    ['causal mask, 2 key tiles', 5, 70, 8, 6, [5, 70]],
    ['no mask, Tq = 1', 1, 13, 16, 16, null],
    ['padding mask broadcast over heads and queries', 4, 129, 8, 130, [2, 1, 1, 129]],
  ];
  for (const [name, tq, tk, dh, dv, maskShape] of attentionCases) {
    it(`fused_attention: ${name}`, async () => {
      const r = rng(tq * tk);
      const b = new GraphBuilder();
      const q = b.input('q', 'f32', [2, 3, tq, dh]);
      const k = b.input('k', 'f32', [2, 3, tk, dh]);
      const v = b.input('v', 'f32', [2, 3, tk, dv]);
      const inputs = [q, k, v];
      if (maskShape) inputs.push(b.input('mask', 'f32', maskShape));
      const graph = b.build({ y: b.add('fused_attention', inputs, { scale: 1 / Math.sqrt(dh) }) });
      const feeds: Record<string, NDArray> = { q: randomF32([2, 3, tq, dh], r, -2, 2), k: randomF32([2, 3, tk, dh], r, -2, 2), v: randomF32([2, 3, tk, dv], r) };
      if (maskShape) {
        const mask = randomF32(maskShape, r);
        // causal for [Tq, Tk]; padding: mask the tail of each batch row
        for (let i = 0; i < mask.data.length; i++) {
          const col = i % tk;
          mask.data[i] = maskShape.length === 2 ? (col > Math.floor(i / tk) + 60 ? MASKED : 0) : col >= tk - 10 * (1 + Math.floor(i / tk)) ? MASKED : 0;
        }
        feeds['mask'] = mask;
      }
      await expectMatchesReference(graph, feeds, new Map(), { atol: 2e-6, rtol: 2e-5 });
    });
  }

  it('gather: f32 and i32 tables, ids of rank 2', async () => {
    const r = rng(8);
    const b = new GraphBuilder();
    const ids = b.input('ids', 'i32', [2, 7]);
    const graph = b.build({ f: b.add('gather', [b.param('table', 'f32', [50, 6]), ids]), i: b.add('gather', [b.param('itable', 'i32', [50]), ids]) });
    const weights = new Map([['table', randomF32([50, 6], r)], ['itable', randomI32([50], r, -99, 99)]]);
    await expectMatchesReference(graph, { ids: randomI32([2, 7], r, 0, 49) }, weights);
  });

  it('gather: ids outside the table are an error naming the input and the table', async () => {
    const b = new GraphBuilder();
    const ids = b.input('ids', 'i32', [4]);
    const graph = b.build({ y: b.add('gather', [b.param('wte', 'f32', [10, 3]), ids]) });
    const model = await gpu!.prepare(graph, new Map([['wte', randomF32([10, 3], rng(1))]]));
    await expect(model.run({ ids: { dtype: 'i32', shape: [4], data: Int32Array.of(1, 2, 10, 3) } })).rejects.toThrow(/input 'ids' holds 10 at position 2, outside the 10 rows of weight 'wte'/);
    await expect(model.run({ ids: { dtype: 'i32', shape: [4], data: Int32Array.of(-1, 2, 0, 3) } })).rejects.toThrow(/holds -1 at position 0/);
    const ok = await model.run({ ids: { dtype: 'i32', shape: [4], data: Int32Array.of(9, 0, 0, 1) } });
    expect(ok['y']!.shape).toEqual([4, 3]);
    model.dispose();
  });

  it('gather: computed ids outside the table are caught on the GPU', async () => {
    const b = new GraphBuilder();
    const n = b.input('n', 'f32', ['len']);
    const ids = b.add('add', [b.add('range', [], { size: 'len' }), b.constant(8, [], 'i32')]); // 8, 9, 10, ...
    const graph = b.build({ y: b.add('gather', [b.param('wte', 'f32', [10, 3]), ids]), negated: b.add('neg', [n]) });
    const model = await gpu!.prepare(graph, new Map([['wte', randomF32([10, 3], rng(1))]]));
    await model.run({ n: randomF32([2], rng(2)) });
    await expect(model.run({ n: randomF32([4], rng(2)) })).rejects.toThrow(/gather \(node %\d+.*\): 2 indices outside the rows of weight 'wte', the first at position 2/);
    model.dispose();
  });

  it('gather: a table larger than one storage binding is read in chunks', async () => {
    const small = await gpuWithLimits({ maxStorageBufferBindingSize: 1024 });
    const r = rng(9);
    const b = new GraphBuilder();
    const ids = b.input('ids', 'i32', [3, 5]);
    const graph = b.build({ y: b.add('gather', [b.param('table', 'f32', [100, 6]), ids]) }); // 2400 bytes: 4 chunks of 32 rows
    const feeds = { ids: randomI32([3, 5], r, 0, 99) };
    feeds.ids.data.set([0, 31, 32, 63, 64, 95, 96, 99]);
    await expectMatchesReference(graph, feeds, new Map([['table', randomF32([100, 6], r)]]), {}, small);
    // any other kernel reading the table whole says which tensor is too large
    const whole = new GraphBuilder();
    const graph2 = whole.build({ y: whole.add('neg', [whole.param('table', 'f32', [100, 6])]) });
    const model = await small.prepare(graph2, new Map([['table', randomF32([100, 6], r)]]));
    await expect(model.run({})).rejects.toThrow(/neg \(node %1.*\): tensor weight 'table' \[100, 6\] needs 2.3 KiB, more than the device's maxStorageBufferBindingSize/);
    model.dispose();
  });

  it('x @ W^T with W larger than one storage binding runs in blocks of W rows (a tied LM head)', async () => {
    const small = await gpuWithLimits({ maxStorageBufferBindingSize: 16384 });
    const r = rng(13);
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [3, 32]);
    const wte = b.param('wte', 'f32', [600, 32]); // 76.8 KB: 5 blocks of 128 rows
    const epilogue: Expr = { op: 'add', args: [{ in: 0 }, { in: 1 }] };
    const graph = b.build({ logits: b.add('matmul', [x, wte], { transposeB: true }), biased: b.add('fused_matmul', [x, wte, b.param('bias', 'f32', [600])], { transposeB: true, epilogue }) });
    await expectMatchesReference(graph, { x: randomF32([3, 32], r) }, new Map([['wte', randomF32([600, 32], r)], ['bias', randomF32([600], r)]]), { atol: 2e-5 }, small);
  });

  it('transpose, slice, concat and range', async () => {
    const r = rng(10);
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [2, 3, 4, 5]);
    const xi = b.input('xi', 'i32', [3, 'n']);
    const outs: Record<string, number> = {
      t0: b.add('transpose', [x], { perm: [0, 2, 1, 3] }),
      t1: b.add('transpose', [x], { perm: [3, 2, 1, 0] }),
      t2: b.add('transpose', [x], { perm: [0, 1, 2, 3] }),
      t3: b.add('transpose', [xi], { perm: [1, 0] }),
      s0: b.add('slice', [x], { axis: 1, start: 1, end: 3 }),
      s1: b.add('slice', [x], { axis: -1, start: -4, end: null, step: 2 }),
      s2: b.add('slice', [x], { axis: 0, start: 5, end: 9 }),
      s3: b.add('slice', [xi], { axis: 1, start: 0, end: 2 }),
      c0: b.add('concat', [x, b.add('neg', [x]), x], { axis: 2 }),
      c1: b.add('concat', [xi, xi], { axis: 0 }),
      r0: b.add('range', [], { size: 'n', start: 3, step: -2 }),
      r1: b.add('range', [], { size: 7, start: 0.5, step: 0.25, dtype: 'f32' }),
    };
    await expectMatchesReference(b.build(outs), { x: randomF32([2, 3, 4, 5], r), xi: randomI32([3, 4], r, -5, 5) });
  });

  it('cache_update: a state updated in place across runs, and a plain copy-and-write', async () => {
    const b = new GraphBuilder();
    const cache = b.input('cache', 'f32', [2, 3, 8, 4]);
    const fresh = b.input('fresh', 'f32', [2, 3, 'seq', 4]);
    const position = b.input('position', 'i32', [2]);
    const updated = b.add('cache_update', [cache, fresh, position], { axis: 2 });
    const stateGraph = b.build({ cache: updated, sum: b.add('reduce_sum', [fresh], { axes: [3] }) });
    const model = await gpu!.prepare(stateGraph, new Map());
    const r = rng(11);
    const first = randomF32([2, 3, 2, 4], r);
    const second = randomF32([2, 3, 1, 4], r);
    await model.run({ fresh: first, position: { dtype: 'i32', shape: [2], data: Int32Array.of(0, 3) } });
    const out = await model.run({ fresh: second, position: { dtype: 'i32', shape: [2], data: Int32Array.of(2, 5) } });
    expect(Object.keys(out)).toEqual(['sum']);
    const state = await model.readState('cache');
    const want = new Float32Array(2 * 3 * 8 * 4);
    const put = (src: NDArray, t: number, positions: number[]) => {
      for (let bi = 0; bi < 2; bi++) for (let h = 0; h < 3; h++) for (let s = 0; s < t; s++) for (let d = 0; d < 4; d++) want[((bi * 3 + h) * 8 + positions[bi]! + s) * 4 + d] = src.data[((bi * 3 + h) * t + s) * 4 + d]!;
    };
    put(first, 2, [0, 3]);
    put(second, 1, [2, 5]);
    expect(Array.from(state.data)).toEqual(Array.from(want));
    await expect(model.run({ fresh: second, position: { dtype: 'i32', shape: [2], data: Int32Array.of(0, 8) } })).rejects.toThrow(/input 'position' holds position 8 \(row 1\): positions 8..8 do not fit input 'cache' of 8/);
    model.state.clear(); // the next run starts from zeros
    await model.run({ fresh: second, position: { dtype: 'i32', shape: [2], data: Int32Array.of(0, 0) } });
    expect(Array.from((await model.readState('cache')).data).filter((v) => v !== 0).length).toBe(2 * 3 * 4);
    model.dispose();

    const plain = new GraphBuilder();
    const c = plain.input('c', 'f32', [2, 5, 3]);
    const u = plain.input('u', 'f32', [2, 2, 3]);
    const p = plain.input('p', 'i32', [1]);
    const graph = plain.build({ y: plain.add('cache_update', [c, u, p], { axis: 1 }) });
    await expectMatchesReference(graph, { c: randomF32([2, 5, 3], r), u: randomF32([2, 2, 3], r), p: { dtype: 'i32', shape: [1], data: Int32Array.of(3) } });
  });

  it('dispatches beyond maxComputeWorkgroupsPerDimension use a 2-D grid', async () => {
    const tiny = await gpuWithLimits({ maxComputeWorkgroupsPerDimension: 5 });
    const r = rng(12);
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [20, 70]);
    const w = b.input('w', 'f32', [7, 70, 9]);
    const row = (i: number) => b.add('reshape', [b.add('slice', [x], { axis: 0, start: i, end: i + 1 })], { shape: [70] });
    const ids = b.input('ids', 'i32', [40]);
    const q = b.add('reshape', [x], { shape: [2, 10, 70] });
    const graph = b.build({
      e: b.add('exp', [b.add('concat', [x, x, x, x], { axis: 0 })]), // 5600 elements: 22 workgroups of 256
      s: b.add('softmax', [x], { axis: -1 }), // 20 rows
      r: b.add('reduce_max', [x], { axes: [1] }),
      ln: b.add('layer_norm', [x, row(0), row(1)], { eps: 1e-5 }), // 20 rows
      m: b.add('matmul', [b.add('reshape', [x], { shape: [1, 20, 70] }), w]), // 7 batches
      a: b.add('fused_attention', [q, q, q], { scale: 0.1 }), // 20 query rows
      g: b.add('gather', [x, ids]),
    });
    await expectMatchesReference(graph, { x: randomF32([20, 70], r), w: randomF32([7, 70, 9], r), ids: randomI32([40], r, 0, 19) }, new Map(), { atol: 1e-4 }, tiny);
  });
});

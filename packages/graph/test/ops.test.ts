/**
 * Every primitive, elementwise and source op: its type rule (including the errors it must raise) and
 * its reference kernel, against values computed by hand or by a few lines of independent code here.
 */
import { describe, expect, it } from 'vitest';
import { expandOps, GraphBuilder, GraphTypeError, InputError, interpret, OPS, UNARY_FUNCTIONS, type OpDef } from '../src/index.ts';
import { caught, expectClose, f32, i32, inferOp, iota, noise, runOp, values } from './test-helpers.ts';

describe('the op table', () => {
  it('every op has a reference: a kernel, or a decomposition for composite and fused ops', () => {
    for (const [name, def] of Object.entries(OPS) as [string, OpDef][]) {
      expect(def.name, name).toBe(name);
      expect(def.minInputs, name).toBeLessThanOrEqual(def.inputs.length);
      if (def.category === 'composite' || def.category === 'fused') {
        expect(def.decompose, name).toBeTypeOf('function');
        expect(def.evaluate, name).toBeUndefined();
      } else if (name === 'input' || name === 'param') {
        expect(def.evaluate, name).toBeUndefined(); // values come from feeds and weights
      } else {
        expect(def.evaluate, name).toBeTypeOf('function');
      }
    }
  });

  it('every op has tests here, in composite-ops.test.ts or in variant-ops.test.ts (add new ops to this list with their tests)', () => {
    const tested = [
      ...['input', 'param', 'constant', 'range', 'where', 'cast', 'matmul', 'reduce_sum', 'reduce_mean', 'reduce_max', 'softmax'],
      ...['layer_norm', 'gather', 'reshape', 'transpose', 'slice', 'concat', 'cache_update'],
      ...Object.keys(UNARY_FUNCTIONS),
      ...['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'equal', 'not_equal', 'less', 'less_equal', 'greater', 'greater_equal'],
      // composite-ops.test.ts
      ...['linear', 'embed', 'sinusoidal_posenc', 'learned_posenc', 'causal_mask', 'padding_mask', 'attention', 'add_norm', 'ffn'],
      ...['fused_elementwise', 'fused_matmul', 'fused_attention', 'fused_add_layer_norm'],
      // variant-ops.test.ts
      ...['rms_norm', 'rope', 'glu_ffn', 'fused_add_rms_norm', 'fused_matmul_rope'],
      // training-ops.test.ts
      ...['broadcast_like', 'scatter_add', 'softmax_cross_entropy', 'dropout'],
      // routing-ops.test.ts
      ...['top_k', 'logical_and', 'logical_or', 'logical_not', 'expert_matmul', 'moe_ffn'],
      // weight-quantization.test.ts
      ...['dequantize', 'quantized_matmul', 'quantize_activations'],
    ];
    expect(Object.keys(OPS).filter((op) => !tested.includes(op))).toEqual([]);
  });
});

describe('unary elementwise', () => {
  const at = (op: string, xs: number[]) => values(runOp(op, [f32([xs.length], xs)]));

  it('erf matches known values, near 0, in the series range and in the tails', () => {
    const xs = [0, 1e-3, 0.1, 0.5, 1, 2, -1.5, 2.5, -2.7, 3.5, 5, 6.5];
    const known = [
      0, 0.0011283787909692365, 0.1124629160182849, 0.5204998778130465, 0.8427007929497149, 0.9953222650189527, -0.9661051464753108,
      0.999593047982555, -0.9998656672600594, 0.9999992569016276, 0.9999999999984626, 1,
    ];
    expectClose(at('erf', xs), known, 1e-15);
    expect(at('erf', [NaN])[0]).toBeNaN();
  });

  it('gelu (erf form) and gelu_tanh match known values', () => {
    expectClose(at('gelu', [1, -1, 2, 0.5, 0]), [0.8413447460685429, -0.15865525393145707, 1.9544997361036416, 0.34573123063700656, 0], 1e-15);
    expectClose(at('gelu_tanh', [1, -1, 2, 0]), [0.8411919906082768, -0.15880800939172324, 1.954597694087775, 0], 1e-15);
  });

  it('the other functions', () => {
    const xs = [-2, -0.5, 0.25, 3];
    const expected: Record<string, (x: number) => number> = {
      neg: (x) => -x,
      abs: Math.abs,
      exp: Math.exp,
      tanh: Math.tanh,
      sigmoid: (x) => 1 / (1 + Math.exp(-x)),
      relu: (x) => Math.max(0, x),
      sin: Math.sin,
      cos: Math.cos,
    };
    for (const [op, f] of Object.entries(expected)) expectClose(at(op, xs), xs.map(f), 1e-15);
    expectClose(at('log', [1, Math.E, 0.5]), [0, 1, -Math.LN2], 1e-15);
    expectClose(at('sqrt', [4, 2, 0]), [2, Math.SQRT2, 0], 1e-15);
    expectClose(at('rsqrt', [4, 0.25]), [0.5, 2], 1e-15);
    expectClose(at('reciprocal', [4, -0.5]), [0.25, -2], 1e-15);
    expect(at('log', [0, -1])).toEqual([-Infinity, NaN]);
  });

  it('type rule: same type out; only neg and abs take i32', () => {
    for (const op of Object.keys(UNARY_FUNCTIONS)) {
      expect(inferOp(op, [['f32', ['batch', 3]]])).toEqual({ dtype: 'f32', shape: ['batch', 3] });
      if (op === 'neg' || op === 'abs') expect(inferOp(op, [['i32', [2]]]).dtype).toBe('i32');
      else expect(() => inferOp(op, [['i32', [2]]]), op).toThrow(`${op} needs f32 inputs, got i32`);
    }
    expect(values(runOp('abs', [i32([3], [-4, 0, 7])]))).toEqual([4, 0, 7]);
    expect(values(runOp('neg', [i32([2], [5, -6])]))).toEqual([-5, 6]);
  });
});

describe('binary and comparison elementwise', () => {
  it('broadcasts a row, a column and a scalar', () => {
    const m = f32([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(values(runOp('add', [m, f32([3], [10, 20, 30])]))).toEqual([11, 22, 33, 14, 25, 36]);
    expect(values(runOp('sub', [m, f32([2, 1], [1, 4])]))).toEqual([0, 1, 2, 0, 1, 2]);
    expect(values(runOp('mul', [f32([], [2]), m]))).toEqual([2, 4, 6, 8, 10, 12]);
    // [2, 1] x [1, 3] -> outer product [2, 3]
    const outer = runOp('mul', [f32([2, 1], [1, 2]), f32([1, 3], [3, 4, 5])]);
    expect(outer.shape).toEqual([2, 3]);
    expect(values(outer)).toEqual([3, 4, 5, 6, 8, 10]);
  });

  it('div, pow, maximum, minimum', () => {
    const a = f32([4], [1, -2, 9, 0.5]);
    const b = f32([4], [4, 2, 0.5, -1]);
    expect(values(runOp('div', [a, b]))).toEqual([0.25, -1, 18, -0.5]);
    expect(values(runOp('pow', [a, b]))).toEqual([1, 4, 3, 2]);
    expect(values(runOp('maximum', [a, b]))).toEqual([4, 2, 9, 0.5]);
    expect(values(runOp('minimum', [a, b]))).toEqual([1, -2, 0.5, -1]);
  });

  it('i32 arithmetic stays integral; division truncates toward zero', () => {
    const a = i32([4], [7, -7, 7, -7]);
    const b = i32([4], [2, 2, -2, -2]);
    expect(values(runOp('div', [a, b]))).toEqual([3, -3, -3, 3]);
    expect(values(runOp('mul', [a, b]))).toEqual([14, -14, -14, 14]);
    expect(runOp('add', [a, b]).data).toBeInstanceOf(Int32Array);
    expect(() => inferOp('pow', [['i32', [2]], ['i32', [2]]])).toThrow('pow needs f32 inputs');
  });

  it('comparisons give i32 0/1', () => {
    const a = f32([3], [1, 2, 3]);
    const b = f32([3], [2, 2, 2]);
    const table: Record<string, number[]> = {
      equal: [0, 1, 0],
      not_equal: [1, 0, 1],
      less: [1, 0, 0],
      less_equal: [1, 1, 0],
      greater: [0, 0, 1],
      greater_equal: [0, 1, 1],
    };
    for (const [op, want] of Object.entries(table)) {
      const out = runOp(op, [a, b]);
      expect(out.dtype, op).toBe('i32');
      expect(values(out), op).toEqual(want);
    }
    expect(inferOp('less', [['i32', ['batch', 1]], ['i32', [1, 'seq']]])).toEqual({ dtype: 'i32', shape: ['batch', 'seq'] });
  });

  it('type rule: symbolic broadcasting and its errors', () => {
    expect(inferOp('add', [['f32', ['batch', 1, 64]], ['f32', ['seq', 1]]]).shape).toEqual(['batch', 'seq', 64]);
    expect(inferOp('add', [['f32', ['seq*batch', 4]], ['f32', ['batch*seq', 1]]]).shape).toEqual(['batch*seq', 4]);
    expect(inferOp('mul', [['f32', []], ['f32', ['batch']]]).shape).toEqual(['batch']);
    expect(() => inferOp('add', [['f32', ['batch', 3]], ['f32', ['seq', 3]]])).toThrow('shapes [batch, 3] and [seq, 3] do not broadcast');
    expect(() => inferOp('add', [['f32', [2]], ['i32', [2]]])).toThrow('dtypes differ (f32 and i32); cast one first');
  });
});

describe('where and cast', () => {
  it('where selects with broadcasting over cond, a and b', () => {
    const out = runOp('where', [i32([2, 1], [1, 0]), f32([1, 3], [1, 2, 3]), f32([], [-1])]);
    expect(out.shape).toEqual([2, 3]);
    expect(values(out)).toEqual([1, 2, 3, -1, -1, -1]);
    expect(() => inferOp('where', [['f32', [2]], ['f32', [2]], ['f32', [2]]])).toThrow('cond must be i32, got f32');
    expect(() => inferOp('where', [['i32', [2]], ['f32', [2]], ['i32', [2]]])).toThrow('branches differ in dtype (f32 and i32)');
    expect(() => inferOp('where', [['i32', [3]], ['f32', [2]], ['f32', [2]]])).toThrow('do not broadcast');
  });

  it('cast truncates toward zero into i32 and converts back exactly', () => {
    const out = runOp('cast', [f32([5], [1.7, -1.7, 2.5, -0.5, 3])], { dtype: 'i32' });
    expect(out.dtype).toBe('i32');
    expect(values(out)).toEqual([1, -1, 2, 0, 3]);
    const back = runOp('cast', [i32([2], [-3, 4])], { dtype: 'f32' });
    expect(back.data).toBeInstanceOf(Float64Array);
    expect(values(back)).toEqual([-3, 4]);
    expect(inferOp('cast', [['f32', ['batch', 2]]], { dtype: 'i32' })).toEqual({ dtype: 'i32', shape: ['batch', 2] });
  });
});

describe('sources', () => {
  it('constant: one value fills the shape, or one value per element', () => {
    expect(values(runOp('constant', [], { shape: [2, 2], values: [7] }))).toEqual([7, 7, 7, 7]);
    expect(values(runOp('constant', [], { shape: [3], values: [1, 2, 3], dtype: 'i32' }))).toEqual([1, 2, 3]);
    expect(() => inferOp('constant', [], { shape: [3], values: [1, 2] })).toThrow('2 values for shape [3] (needs 1 or 3)');
    expect(() => inferOp('constant', [], { dtype: 'i32', values: [0.5] })).toThrow('an i32 constant needs integer values');
    expect(() => inferOp('constant', [], { shape: ['seq'], values: [1] })).toThrow(GraphTypeError);
  });

  it('range: a symbolic size is bound from the graph inputs', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['batch', 'seq']);
    const r = b.add('range', [], { size: 'batch*seq', start: 2, step: 3 });
    expect(b.typeOf(r)).toEqual({ dtype: 'i32', shape: ['batch*seq'] });
    const s = b.add('range', [], { size: 'seq', start: 0.5, step: 0.25, dtype: 'f32' });
    const out = interpret(b.build({ r, s, x }), { x: iota([2, 3]) }, new Map());
    expect(values(out.r!)).toEqual([2, 5, 8, 11, 14, 17]);
    expect(out.r!.dtype).toBe('i32');
    expect(values(out.s!)).toEqual([0.5, 0.75, 1]);
    expect(() => inferOp('range', [], { size: 4, start: 0.5 })).toThrow('an i32 range needs integer start and step');
  });

  it('input and param take their declared types', () => {
    expect(inferOp('input', [], { name: 'ids', dtype: 'i32', shape: ['batch', 'seq'] })).toEqual({ dtype: 'i32', shape: ['batch', 'seq'] });
    expect(() => inferOp('param', [], { name: '', dtype: 'f32', shape: [] })).toThrow(GraphTypeError);
  });
});

/** Naive batched matmul over explicit indices: the independent reference for the kernel. */
function naiveMatmul(a: number[], aShape: number[], b: number[], bShape: number[], transposeB: boolean): number[] {
  const [M, K] = aShape.slice(-2) as [number, number];
  const N = transposeB ? bShape.at(-2)! : bShape.at(-1)!;
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const pad = (s: number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const [pa, pb] = [pad(aBatch), pad(bBatch)];
  const outBatch = pa.map((d, i) => Math.max(d, pb[i]!));
  const out: number[] = [];
  const total = outBatch.reduce((x, y) => x * y, 1);
  for (let t = 0; t < total; t++) {
    // multi-index of batch t, then each operand's flat batch index (broadcast axes read index 0)
    let rest = t;
    const idx = outBatch.map(() => 0);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d] = rest % outBatch[d]!;
      rest = Math.floor(rest / outBatch[d]!);
    }
    const flat = (shape: number[]) => shape.reduce((acc, size, d) => acc * size + (size === 1 ? 0 : idx[d]!), 0);
    const [ab, bb] = [flat(pa), flat(pb)];
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[ab * M * K + i * K + k]! * (transposeB ? b[bb * N * K + j * K + k]! : b[bb * K * N + k * N + j]!);
        out.push(s);
      }
    }
  }
  return out;
}

describe('matmul', () => {
  it('a 2x3 by 3x2 product by hand', () => {
    const out = runOp('matmul', [f32([2, 3], [1, 2, 3, 4, 5, 6]), f32([3, 2], [7, 8, 9, 10, 11, 12])]);
    expect(out.shape).toEqual([2, 2]);
    expect(values(out)).toEqual([58, 64, 139, 154]);
  });

  it('transposeB reads b as [N, K]', () => {
    const out = runOp('matmul', [f32([2, 3], [1, 2, 3, 4, 5, 6]), f32([2, 3], [7, 9, 11, 8, 10, 12])], { transposeB: true });
    expect(values(out)).toEqual([58, 64, 139, 154]);
  });

  it('batch axes broadcast like numpy (against a naive loop)', () => {
    const cases: [number[], number[], boolean][] = [
      [[2, 1, 3, 4], [5, 4, 2], false],
      [[3, 4], [2, 4, 5], false],
      [[2, 2, 3], [1, 4, 3], true],
      [[1, 3, 2, 3], [4, 1, 2, 3], true],
    ];
    cases.forEach(([as, bs, transposeB], c) => {
      const a = noise(as, 10 + c);
      const b = noise(bs, 20 + c);
      const out = runOp('matmul', [a, b], { transposeB });
      expectClose(out, naiveMatmul(values(a), as, values(b), bs, transposeB), 1e-12);
    });
    expect(inferOp('matmul', [['f32', [2, 1, 3, 4]], ['f32', [5, 4, 6]]]).shape).toEqual([2, 5, 3, 6]);
  });

  it('type rule: symbolic dims, contraction and batch errors', () => {
    expect(inferOp('matmul', [['f32', ['batch', 'seq', 64]], ['f32', [64, 'vocab']]]).shape).toEqual(['batch', 'seq', 'vocab']);
    expect(inferOp('matmul', [['f32', ['b', 'h', 'tq', 8]], ['f32', ['b', 'h', 'tk', 8]]], { transposeB: true }).shape).toEqual(['b', 'h', 'tq', 'tk']);
    expect(() => inferOp('matmul', [['f32', [2, 3]], ['f32', [4, 2]]])).toThrow('contraction dimensions differ: 3 (a) and 4 (b)');
    expect(() => inferOp('matmul', [['f32', [2, 3]], ['f32', [2, 4]]], { transposeB: true })).toThrow('3 (a) and 4 (b, transposed)');
    expect(() => inferOp('matmul', [['f32', [2, 2, 3]], ['f32', [3, 3, 2]]])).toThrow('batch dimensions [2] and [3] do not broadcast');
    expect(() => inferOp('matmul', [['i32', [2, 2]], ['i32', [2, 2]]])).toThrow('needs f32 inputs');
  });
});

describe('reductions', () => {
  // x[2, 3] = [[1, 2, 3], [4, 5, 6]]
  const x = f32([2, 3], [1, 2, 3, 4, 5, 6]);

  it('sum, mean and max over one axis, with and without keepDims', () => {
    const sum0 = runOp('reduce_sum', [x], { axes: [0] });
    expect(sum0.shape).toEqual([3]);
    expect(values(sum0)).toEqual([5, 7, 9]);
    const mean1 = runOp('reduce_mean', [x], { axes: [-1], keepDims: true });
    expect(mean1.shape).toEqual([2, 1]);
    expect(values(mean1)).toEqual([2, 5]);
    const max1 = runOp('reduce_max', [f32([2, 3], [3, -1, 2, -5, -4, -6])], { axes: [1] });
    expect(values(max1)).toEqual([3, -4]);
  });

  it('several axes, to a scalar or keeping every axis', () => {
    const all = runOp('reduce_sum', [x], { axes: [1, 0] });
    expect(all.shape).toEqual([]);
    expect(values(all)).toEqual([21]);
    const kept = runOp('reduce_mean', [iota([2, 3, 4])], { axes: [0, 2], keepDims: true });
    expect(kept.shape).toEqual([1, 3, 1]);
    // mean over i (0..1) and k (0..3) of 12i + 4j + k = 6 + 4j + 1.5
    expect(values(kept)).toEqual([7.5, 11.5, 15.5]);
  });

  it('reduce_max takes i32; the others need f32', () => {
    const m = runOp('reduce_max', [i32([2, 2], [1, 9, -3, 4])], { axes: [0] });
    expect(m.dtype).toBe('i32');
    expect(values(m)).toEqual([1, 9]);
    expect(() => inferOp('reduce_sum', [['i32', [2]]], { axes: [0] })).toThrow('reduce_sum needs f32, got i32');
  });

  it('type rule: symbolic shapes and axis errors', () => {
    expect(inferOp('reduce_sum', [['f32', ['batch', 'seq', 8]]], { axes: [1], keepDims: true }).shape).toEqual(['batch', 1, 8]);
    expect(inferOp('reduce_sum', [['f32', ['batch', 'seq', 8]]], { axes: [-2, 0] }).shape).toEqual([8]);
    expect(() => inferOp('reduce_sum', [['f32', [2, 3]]], { axes: [2] })).toThrow('axis 2 is out of range for rank 2');
    expect(() => inferOp('reduce_sum', [['f32', [2, 3]]], { axes: [1, -1] })).toThrow('axes [1, -1] repeat an axis');
    expect(() => inferOp('reduce_sum', [['f32', [2, 3]]], { axes: [] })).toThrow('invalid attrs.axes');
  });
});

describe('softmax', () => {
  it('known values along the last axis', () => {
    expectClose(runOp('softmax', [f32([3], [0, 1, 2])]), [0.09003057317038046, 0.24472847105479764, 0.6652409557748219], 1e-15);
  });

  it('is stable for large values: shift invariant, no overflow to NaN', () => {
    for (const shift of [1000, -1000, 1e30]) {
      const out = runOp('softmax', [f32([3], [shift, shift + 1, shift + 2])]);
      if (shift === 1e30) expect(values(out)).toEqual([1 / 3, 1 / 3, 1 / 3]); // 1e30 + 1 === 1e30
      else expectClose(out, [0.09003057317038046, 0.24472847105479764, 0.6652409557748219], 1e-15);
    }
    const f32out = runOp('softmax', [f32([2], [88, 89])], {}, { precision: 'f32' }); // exp(89) overflows float32
    expectClose(f32out, [1 / (1 + Math.E), Math.E / (1 + Math.E)], 1e-7);
    // an additive mask (MASKED = -1e30) gives exact zeros
    expect(values(runOp('softmax', [f32([3], [0, -1e30, 0])]))).toEqual([0.5, 0, 0.5]);
  });

  it('along a non-last axis', () => {
    const out = runOp('softmax', [f32([2, 2], [0, 5, Math.log(3), 5])], { axis: 0 });
    expectClose(out, [0.25, 0.5, 0.75, 0.5], 1e-15);
  });

  it('the decomposition computes the same as the kernel', () => {
    checkDecomposition('softmax', [noise([2, 3, 5], 3)], { axis: 1 });
    checkDecomposition('softmax', [f32([4], [1000, 1001, -1e30, 999])], { axis: -1 });
  });

  it('type rule', () => {
    expect(inferOp('softmax', [['f32', ['batch', 'seq']]])).toEqual({ dtype: 'f32', shape: ['batch', 'seq'] });
    expect(() => inferOp('softmax', [['f32', [2]]], { axis: 1 })).toThrow('axis 1 is out of range for rank 1');
    expect(() => inferOp('softmax', [['i32', [2]]])).toThrow('needs f32, got i32');
  });
});

/** Evaluates a primitive once by its kernel and once by its decomposition. */
function checkDecomposition(op: string, inputs: ReturnType<typeof f32>[], attrs: Record<string, unknown>): void {
  const b = new GraphBuilder();
  const refs = inputs.map((x, k) => b.input(`x${k}`, x.dtype, x.shape));
  const graph = b.build({ y: b.add(op, refs, attrs) });
  const decomposed = expandOps(graph, (def) => def.name === op);
  expect(decomposed.nodes.some((n) => n.op === op)).toBe(false);
  const feeds = Object.fromEntries(inputs.map((x, k) => [`x${k}`, x]));
  expectClose(interpret(decomposed, feeds, new Map()).y!, values(interpret(graph, feeds, new Map()).y!), 1e-12);
}

describe('layer_norm', () => {
  it('a row by hand: mean 2.5, variance 1.25', () => {
    const eps = 1e-5;
    const out = runOp('layer_norm', [f32([1, 4], [1, 2, 3, 4]), f32([4], [1, 2, 1, 1]), f32([4], [0, 0, 1, -1])], { eps });
    const inv = 1 / Math.sqrt(1.25 + eps);
    expectClose(out, [-1.5 * inv, -0.5 * inv * 2, 0.5 * inv + 1, 1.5 * inv - 1], 1e-14);
  });

  it('each row is normalized separately; eps matters for constant rows', () => {
    const out = runOp('layer_norm', [f32([2, 2], [3, 3, 0, 2]), f32([2], [1, 1]), f32([2], [0, 0])], { eps: 1 });
    expectClose(out, [0, 0, -1 / Math.sqrt(2), 1 / Math.sqrt(2)], 1e-15);
  });

  it('the decomposition computes the same as the kernel', () => {
    checkDecomposition('layer_norm', [noise([2, 3, 8], 5), noise([8], 6), noise([8], 7)], { eps: 1e-5 });
  });

  it('type rule', () => {
    expect(inferOp('layer_norm', [['f32', ['batch', 'd']], ['f32', ['d']], ['f32', ['d']]]).shape).toEqual(['batch', 'd']);
    expect(() => inferOp('layer_norm', [['f32', [2, 4]], ['f32', [3]], ['f32', [4]]])).toThrow('gamma must have shape [4]');
    expect(() => inferOp('layer_norm', [['f32', [2, 4]], ['f32', [4]], ['f32', [1, 4]]])).toThrow('beta must have shape [4]');
    expect(() => inferOp('layer_norm', [['f32', []], ['f32', [1]], ['f32', [1]]])).toThrow('x needs rank >= 1');
    expect(() => inferOp('layer_norm', [['f32', [4]], ['f32', [4]], ['f32', [4]]], { eps: 0 })).toThrow('invalid attrs.eps');
  });
});

describe('gather', () => {
  const table = f32([3, 2], [0, 1, 10, 11, 20, 21]);

  it('picks rows; index shape + row shape', () => {
    const out = runOp('gather', [table, i32([2, 2], [2, 0, 1, 1])]);
    expect(out.shape).toEqual([2, 2, 2]);
    expect(values(out)).toEqual([20, 21, 0, 1, 10, 11, 10, 11]);
    expect(inferOp('gather', [['f32', ['vocab', 8]], ['i32', ['batch', 'seq']]]).shape).toEqual(['batch', 'seq', 8]);
  });

  it('an index outside the table is an InputError naming the index and the node', () => {
    for (const bad of [3, -1]) {
      const error = caught(() => runOp('gather', [table, i32([2], [0, bad])]));
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toMatch(new RegExp(`^gather: index ${bad} at position 1 is outside the table's 3 rows \\(node %2 gather at .*test-helpers\\.ts:\\d+\\)$`));
    }
  });

  it('type rule', () => {
    expect(() => inferOp('gather', [['f32', [3, 2]], ['f32', [2]]])).toThrow('indices must be i32, got f32');
    expect(() => inferOp('gather', [['f32', []], ['i32', [2]]])).toThrow('table needs rank >= 1');
  });
});

describe('reshape', () => {
  it('keeps the row-major data', () => {
    const out = runOp('reshape', [iota([2, 3])], { shape: [3, -1] });
    expect(out.shape).toEqual([3, 2]);
    expect(values(out)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('symbolic dims: merged products, -1 inferred as a product, and back', () => {
    expect(inferOp('reshape', [['f32', ['batch', 'seq', 64]]], { shape: ['batch*seq', 64] }).shape).toEqual(['batch*seq', 64]);
    expect(inferOp('reshape', [['f32', ['batch', 'seq', 64]]], { shape: [-1, 64] }).shape).toEqual(['batch*seq', 64]);
    expect(inferOp('reshape', [['f32', ['batch', 'seq', 4]]], { shape: ['batch', -1] }).shape).toEqual(['batch', '4*seq']);
    expect(inferOp('reshape', [['f32', ['seq*batch', 8]]], { shape: ['batch', 'seq', 2, -1] }).shape).toEqual(['batch', 'seq', 2, 4]);
    expect(inferOp('reshape', [['f32', ['batch', 'seq', 12]]], { shape: ['seq', 3, 'batch', 4] }).shape).toEqual(['seq', 3, 'batch', 4]);
    expect(inferOp('reshape', [['f32', ['batch', 'seq']]], { shape: ['seq*batch'] }).shape).toEqual(['batch*seq']);
  });

  it('symbolic reshapes run once the symbols are bound', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['batch', 'seq', 2]);
    const flat = b.add('reshape', [x], { shape: [-1, 2] });
    const back = b.add('reshape', [flat], { shape: ['batch', 'seq', 2] });
    const out = interpret(b.build({ flat, back }), { x: iota([2, 3, 2]) }, new Map());
    expect(out.flat!.shape).toEqual([6, 2]);
    expect(out.back!.shape).toEqual([2, 3, 2]);
    expect(values(out.back!)).toEqual(values(iota([12])));
  });

  it('type rule errors', () => {
    expect(() => inferOp('reshape', [['f32', [2, 3]]], { shape: [4, 2] })).toThrow('[2, 3] (6 elements) cannot become [4, 2] (8)');
    expect(() => inferOp('reshape', [['f32', [2, 3]]], { shape: [-1, -1] })).toThrow('at most one -1 in the target shape');
    expect(() => inferOp('reshape', [['f32', [2, 3]]], { shape: [4, -1] })).toThrow('cannot infer -1: [2, 3] does not divide by 4');
    expect(() => inferOp('reshape', [['f32', ['batch', 6]]], { shape: ['seq', -1] })).toThrow("does not divide by seq");
    expect(() => inferOp('reshape', [['f32', ['batch', 'seq']]], { shape: ['batch', 'batch'] })).toThrow('cannot become');
    expect(() => inferOp('reshape', [['f32', [2]]], { shape: ['2x'] })).toThrow('invalid attrs.shape');
  });
});

describe('transpose', () => {
  it('a matrix', () => {
    const out = runOp('transpose', [iota([2, 3])], { perm: [1, 0] });
    expect(out.shape).toEqual([3, 2]);
    expect(values(out)).toEqual([0, 3, 1, 4, 2, 5]);
  });

  it('rank 4 against index arithmetic', () => {
    const shape = [2, 3, 4, 5];
    const perm = [2, 0, 3, 1];
    const out = runOp('transpose', [iota(shape)], { perm });
    const outShape = perm.map((p) => shape[p]!);
    expect(out.shape).toEqual(outShape);
    const want: number[] = [];
    for (let a = 0; a < outShape[0]!; a++)
      for (let b = 0; b < outShape[1]!; b++)
        for (let c = 0; c < outShape[2]!; c++)
          for (let d = 0; d < outShape[3]!; d++) {
            const src = [0, 0, 0, 0];
            [a, b, c, d].forEach((v, i) => (src[perm[i]!] = v));
            want.push(((src[0]! * 3 + src[1]!) * 4 + src[2]!) * 5 + src[3]!);
          }
    expect(values(out)).toEqual(want);
  });

  it('type rule', () => {
    expect(inferOp('transpose', [['f32', ['b', 't', 'h', 8]]], { perm: [0, 2, 1, 3] }).shape).toEqual(['b', 'h', 't', 8]);
    expect(() => inferOp('transpose', [['f32', [2, 3, 4]]], { perm: [0, 0, 1] })).toThrow('perm [0, 0, 1] is not a permutation of 3 axes');
    expect(() => inferOp('transpose', [['f32', [2, 3]]], { perm: [1, 2] })).toThrow('is not a permutation');
  });
});

describe('slice', () => {
  const x = iota([10]);
  const sl = (start: number, end: number | null, step = 1) => values(runOp('slice', [x], { axis: 0, start, end, step }));

  it('Python-style bounds: negative, clamped, stepped, empty', () => {
    expect(sl(2, 5)).toEqual([2, 3, 4]);
    expect(sl(-3, null)).toEqual([7, 8, 9]);
    expect(sl(1, -1, 2)).toEqual([1, 3, 5, 7]);
    expect(sl(-100, 2)).toEqual([0, 1]);
    expect(sl(8, 100)).toEqual([8, 9]);
    expect(sl(0, null, 3)).toEqual([0, 3, 6, 9]);
    expect(sl(-2, -5)).toEqual([]);
    expect(runOp('slice', [x], { axis: 0, start: 6, end: 3 }).shape).toEqual([0]);
  });

  it('along an inner axis', () => {
    const out = runOp('slice', [iota([2, 5])], { axis: -1, start: -2, end: null });
    expect(out.shape).toEqual([2, 2]);
    expect(values(out)).toEqual([3, 4, 8, 9]);
  });

  it('symbolic axes: kept whole or sliced with bounds of one sign (from the front or from the back)', () => {
    expect(inferOp('slice', [['f32', ['batch', 'seq']]], { axis: 1 }).shape).toEqual(['batch', 'seq']);
    expect(inferOp('slice', [['f32', ['batch', 'seq']]], { axis: 1, start: 1, end: 4 }).shape).toEqual(['batch', 3]);
    expect(inferOp('slice', [['f32', ['batch', 'seq']]], { axis: 1, start: 0, end: 5, step: 2 }).shape).toEqual(['batch', 3]);
    expect(inferOp('slice', [['f32', ['batch', 'seq']]], { axis: 1, start: -1, end: null }).shape).toEqual(['batch', 1]);
    expect(inferOp('slice', [['f32', ['batch', 'seq']]], { axis: 1, start: -4, end: -1, step: 2 }).shape).toEqual(['batch', 2]);
    expect(() => inferOp('slice', [['f32', ['seq']]], { axis: 0, start: 1 })).toThrow("slicing symbolic axis 'seq' needs bounds of one sign");
    expect(() => inferOp('slice', [['f32', ['seq']]], { axis: 0, start: -2, end: 3 })).toThrow('got [-2:3]');
    const last = runOp('slice', [iota([2, 4])], { axis: 1, start: -2, end: null }, { shapes: [['batch', 'seq']] });
    expect(values(last)).toEqual([2, 3, 6, 7]);
    const out = runOp('slice', [iota([2, 4])], { axis: 1, start: 1, end: 3 }, { shapes: [['batch', 'seq']] });
    expect(values(out)).toEqual([1, 2, 5, 6]);
  });

  it('type rule errors', () => {
    expect(() => inferOp('slice', [['f32', [2]]], { axis: 1 })).toThrow('axis 1 is out of range for rank 1');
    expect(() => inferOp('slice', [['f32', [2]]], { axis: 0, step: 0 })).toThrow('invalid attrs.step');
  });
});

describe('concat', () => {
  it('along the first, last and a negative axis', () => {
    const a = iota([2, 2]);
    const b = iota([1, 2], 1, 10);
    expect(values(runOp('concat', [a, b], { axis: 0 }))).toEqual([0, 1, 2, 3, 10, 11]);
    const c = runOp('concat', [a, iota([2, 1], 1, 10), a], { axis: -1 });
    expect(c.shape).toEqual([2, 5]);
    expect(values(c)).toEqual([0, 1, 10, 0, 1, 2, 3, 11, 2, 3]);
    expect(values(runOp('concat', [a], { axis: 1 }))).toEqual([0, 1, 2, 3]);
  });

  it('type rule: symbolic other axes agree, the joined axis is static', () => {
    expect(inferOp('concat', [['f32', ['batch', 2]], ['f32', ['batch', 3]]], { axis: 1 }).shape).toEqual(['batch', 5]);
    expect(() => inferOp('concat', [['f32', ['batch', 2]], ['f32', ['seq', 3]]], { axis: 1 })).toThrow('[seq, 3] does not match [batch, 2] outside axis 1');
    expect(() => inferOp('concat', [['f32', ['batch', 2]], ['f32', ['batch', 2]]], { axis: 0 })).toThrow("cannot concatenate along symbolic axis 0 ('batch')");
    expect(() => inferOp('concat', [['f32', [2]], ['i32', [2]]], { axis: 0 })).toThrow('dtypes differ (f32 and i32)');
    expect(() => inferOp('concat', [['f32', [2]], ['f32', [2, 1]]], { axis: 0 })).toThrow('does not match');
    expect(() => inferOp('concat', [['f32', [2]]], { axis: 1 })).toThrow('axis 1 is out of range for rank 1');
  });
});

describe('cache_update', () => {
  /** Reference: out = cache; out[..., pos(b) + t, ...] = update[..., t, ...] along `axis`, by multi-index. */
  function writeLoops(cache: ReturnType<typeof f32>, update: ReturnType<typeof f32>, axis: number, positions: number[]): number[] {
    const out = values(cache);
    const us = update.shape;
    const strides = (s: readonly number[]) => s.map((_, i) => s.slice(i + 1).reduce((a, b) => a * b, 1));
    const [cst, ust] = [strides(cache.shape), strides(us)];
    for (let flat = 0; flat < update.data.length; flat++) {
      const idx = us.map((_, i) => Math.floor(flat / ust[i]!) % us[i]!);
      idx[axis]! += positions.length === 1 ? positions[0]! : positions[idx[0]!]!;
      out[idx.reduce((s, v, i) => s + v * cst[i]!, 0)] = update.data[flat]!;
    }
    return out;
  }

  it('writes a block at one position for every row, or at one position per row', () => {
    const cache = iota([2, 4, 2], 0, -1);
    const update = iota([2, 2, 2], 1, 1);
    expect(values(runOp('cache_update', [cache, update, i32([1], [1])], { axis: 1 }))).toEqual(writeLoops(cache, update, 1, [1]));
    expect(values(runOp('cache_update', [cache, update, i32([2], [0, 2])], { axis: 1 }))).toEqual(writeLoops(cache, update, 1, [0, 2]));
    const heads = iota([2, 3, 5, 2], 0, -1); // (B, H, Tmax, Dh)
    const step = iota([2, 3, 1, 2], 1, 1);
    expect(values(runOp('cache_update', [heads, step, i32([2], [4, 1])], { axis: 2 }))).toEqual(writeLoops(heads, step, 2, [4, 1]));
    expect(values(runOp('cache_update', [heads, step, i32([2], [4, 1])], { axis: -2 }))).toEqual(writeLoops(heads, step, 2, [4, 1]));
  });

  it('the input cache is not modified (the reference copies)', () => {
    const cache = iota([1, 3, 1]);
    runOp('cache_update', [cache, f32([1, 1, 1], [9]), i32([1], [0])], { axis: 1 });
    expect(values(cache)).toEqual([0, 1, 2]);
  });

  it('a block that does not fit is an InputError', () => {
    const error = caught(() => runOp('cache_update', [iota([1, 4, 2]), iota([1, 2, 2]), i32([1], [3])], { axis: 1 }));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toContain('cache_update: positions 3..4 do not fit a cache of 4');
    expect(() => runOp('cache_update', [iota([1, 4, 2]), iota([1, 2, 2]), i32([1], [-1])], { axis: 1 })).toThrow(InputError);
  });

  it('type rule', () => {
    const cache = ['f32', ['batch', 'heads', 64, 8]] as const;
    const update = ['f32', ['batch', 'heads', 'seq', 8]] as const;
    expect(inferOp('cache_update', [cache, update, ['i32', [1]]], { axis: 2 })).toEqual({ dtype: 'f32', shape: ['batch', 'heads', 64, 8] });
    expect(inferOp('cache_update', [cache, update, ['i32', ['batch']]], { axis: -2 }).shape).toEqual(['batch', 'heads', 64, 8]);
    expect(() => inferOp('cache_update', [cache, update, ['i32', [1]]], { axis: 0 })).toThrow('must be a non-batch axis');
    expect(() => inferOp('cache_update', [cache, update, ['i32', [2]]], { axis: 2 })).toThrow('position must be i32[1] or i32[batch]');
    expect(() => inferOp('cache_update', [cache, update, ['f32', [1]]], { axis: 2 })).toThrow('position must be i32');
    expect(() => inferOp('cache_update', [cache, ['f32', ['batch', 'heads', 'seq', 4]], ['i32', [1]]], { axis: 2 })).toThrow('agree on every axis but the cache axis');
    expect(() => inferOp('cache_update', [cache, ['i32', ['batch', 'heads', 'seq', 8]], ['i32', [1]]], { axis: 2 })).toThrow('dtypes differ (f32 and i32)');
  });
});

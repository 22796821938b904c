/**
 * Every VJP rule against central finite differences of the float64 interpreter, on small graphs
 * written for it (odd sizes, broadcasting, repeated indices, ties), and the errors grad() gives.
 */
import { GraphBuilder, interpret, mulberry32, type Dim, type Graph, type NDArray, type NodeRef } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { checkGradients, grad, GradError } from '../../src/index.ts';

const random = mulberry32(7);
const f32 = (shape: readonly number[], scale = 1): NDArray => ({ dtype: 'f32', shape: [...shape], data: Float64Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => (random() * 2 - 1) * scale) });
const i32 = (shape: readonly number[], values: readonly number[]): NDArray => ({ dtype: 'i32', shape: [...shape], data: Int32Array.from(values) });

/** A graph whose loss is sum(y * y) / 2 + sum(y * c) for the value `y` that `body` builds (c: a fixed random tensor, so every element counts). */
function withLoss(body: (b: GraphBuilder) => NodeRef): Graph {
  const b = new GraphBuilder();
  const y = body(b);
  const shape = b.typeOf(y).shape;
  const squared = b.add('reduce_sum', [b.add('mul', [y, y])], { axes: shape.map((_, i) => i), keepDims: false });
  const weightsOfY = b.add('sin', [b.add('mul', [y, b.constant(1.7)])]);
  const linear = b.add('reduce_sum', [weightsOfY], { axes: shape.map((_, i) => i), keepDims: false });
  return b.build({ loss: b.add('add', [b.add('mul', [squared, b.constant(0.5)]), linear]) });
}

function expectGradients(graph: Graph, feeds: Record<string, NDArray>, weights: Map<string, NDArray>, samples = 12): void {
  const check = checkGradients(graph, { loss: 'loss', feeds, weights, samples });
  expect(check.mismatches, JSON.stringify(check.mismatches.slice(0, 3))).toEqual([]);
  expect(check.checked).toBeGreaterThan(0);
}

const param = (b: GraphBuilder, name: string, shape: readonly Dim[]) => b.param(name, 'f32', shape);

describe('VJP rules against finite differences', () => {
  it.each(['neg', 'abs', 'exp', 'tanh', 'sigmoid', 'relu', 'gelu', 'gelu_tanh', 'erf', 'sin', 'cos'])('unary %s', (op) => {
    const graph = withLoss((b) => b.add(op, [param(b, 'w', [3, 5])]));
    expectGradients(graph, {}, new Map([['w', f32([3, 5])]]), 15);
  });

  it.each(['log', 'sqrt', 'rsqrt', 'reciprocal'])('unary %s on a positive domain', (op) => {
    const graph = withLoss((b) => b.add(op, [b.add('add', [b.add('abs', [param(b, 'w', [7])]), b.constant(0.5)])]));
    expectGradients(graph, {}, new Map([['w', f32([7])]]), 7);
  });

  it.each(['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'])('binary %s with broadcasting both ways', (op) => {
    const graph = withLoss((b) => {
      const x = param(b, 'x', [2, 1, 5]);
      let y = param(b, 'y', [3, 1]);
      if (op === 'div' || op === 'pow') y = b.add('add', [b.add('abs', [y]), b.constant(0.5)]);
      const base = op === 'pow' ? b.add('add', [b.add('abs', [x]), b.constant(0.5)]) : x;
      return b.add(op, [base, y]);
    });
    expectGradients(graph, {}, new Map([['x', f32([2, 1, 5])], ['y', f32([3, 1])]]), 10);
  });

  it('maximum and minimum of a value with itself split the gradient evenly (the derivative of max(x, x) is 1)', () => {
    const graph = withLoss((b) => {
      const w = param(b, 'w', [4]);
      return b.add('add', [b.add('maximum', [w, w]), b.add('minimum', [w, w])]);
    });
    expectGradients(graph, {}, new Map([['w', f32([4])]]));
  });

  it('where with a data-dependent condition, broadcast branches', () => {
    const graph = withLoss((b) => {
      const x = param(b, 'x', [3, 4]);
      return b.add('where', [b.add('greater', [x, b.constant(0)]), b.add('mul', [x, param(b, 's', [4])]), param(b, 'r', [3, 1])]);
    });
    expectGradients(graph, {}, new Map([['x', f32([3, 4])], ['s', f32([4])], ['r', f32([3, 1])]]));
  });

  it.each([false, true])('matmul with a broadcast batch (transposeB %s)', (transposeB) => {
    const graph = withLoss((b) => b.add('matmul', [param(b, 'a', [2, 3, 5]), param(b, 'w', transposeB ? [4, 5] : [5, 4])], { transposeB }));
    expectGradients(graph, {}, new Map([['a', f32([2, 3, 5])], ['w', f32(transposeB ? [4, 5] : [5, 4])]]));
  });

  it.each([
    ['reduce_sum', [1], false],
    ['reduce_mean', [0, 2], true],
    ['reduce_max', [2], false],
  ] as const)('%s over %j (keepDims %s)', (op, axes, keepDims) => {
    const graph = withLoss((b) => b.add(op, [param(b, 'w', [2, 3, 5])], { axes: [...axes], keepDims }));
    expectGradients(graph, {}, new Map([['w', f32([2, 3, 5])]]), 30);
  });

  it('reduce_mean over a symbolic axis counts it at run time', () => {
    const graph = withLoss((b) => b.add('mul', [b.add('reduce_mean', [b.input('x', 'f32', ['seq', 3])], { axes: [0], keepDims: true }), param(b, 'w', [3])]));
    expectGradients(graph, { x: f32([5, 3]) }, new Map([['w', f32([3])]]));
  });

  it('softmax, layer_norm and rms_norm (with a weight offset)', () => {
    const graph = withLoss((b) => {
      const x = param(b, 'x', [3, 6]);
      const s = b.add('softmax', [x], { axis: 0 });
      const ln = b.add('layer_norm', [x, param(b, 'g', [6]), param(b, 'beta', [6])], { eps: 1e-5 });
      const rms = b.add('rms_norm', [x, param(b, 'r', [6])], { eps: 1e-6, weightOffset: 1 });
      return b.add('add', [b.add('add', [s, ln]), rms]);
    });
    expectGradients(graph, {}, new Map([['x', f32([3, 6])], ['g', f32([6])], ['beta', f32([6])], ['r', f32([6])]]), 18);
  });

  it('gather with repeated indices adds their cotangents into the row (scatter_add)', () => {
    const graph = withLoss((b) => b.add('gather', [param(b, 'table', [5, 3]), b.input('ids', 'i32', [2, 3])]));
    expectGradients(graph, { ids: i32([2, 3], [4, 0, 4, 2, 4, 0]) }, new Map([['table', f32([5, 3])]]), 15);
  });

  it.each([
    { axis: 1, start: 1, end: 4, step: 1 },
    { axis: 1, start: 0, end: null, step: 2 },
    { axis: -1, start: -3, end: null, step: 1 },
  ])('slice %j puts its cotangent back among zeros', (attrs) => {
    const graph = withLoss((b) => b.add('slice', [param(b, 'w', [2, 7])], attrs));
    expectGradients(graph, {}, new Map([['w', f32([2, 7])]]), 14);
  });

  it('slice of a symbolic axis (from the front and from the back)', () => {
    const graph = withLoss((b) => {
      const x = b.add('mul', [b.input('x', 'f32', [2, 'seq']), param(b, 'w', [1, 1])]);
      return b.add('add', [b.add('slice', [x], { axis: 1, start: 1, end: 3 }), b.add('slice', [x], { axis: 1, start: -2, end: null })]);
    });
    expectGradients(graph, { x: f32([2, 5]) }, new Map([['w', f32([1, 1])]]));
  });

  it('concat, transpose and reshape', () => {
    const graph = withLoss((b) => {
      const joined = b.add('concat', [param(b, 'a', [2, 3]), param(b, 'c', [2, 2])], { axis: 1 });
      return b.add('reshape', [b.add('transpose', [joined], { perm: [1, 0] })], { shape: [10] });
    });
    expectGradients(graph, {}, new Map([['a', f32([2, 3])], ['c', f32([2, 2])]]));
  });

  it('a value read twice (a residual) sums both cotangents; a tied weight sums its uses', () => {
    const graph = withLoss((b) => {
      const w = param(b, 'w', [4, 4]);
      const x = param(b, 'x', [3, 4]);
      const h = b.add('tanh', [b.add('matmul', [x, w])]);
      return b.add('matmul', [b.add('add', [h, x]), w], { transposeB: true });
    });
    expectGradients(graph, {}, new Map([['w', f32([4, 4])], ['x', f32([3, 4])]]), 16);
  });

  it('softmax cross-entropy with an ignored label and label smoothing', () => {
    const b = new GraphBuilder();
    const logits = b.add('matmul', [b.input('h', 'f32', [2, 3, 4]), b.param('w', 'f32', [4, 7])]);
    const ce = b.add('softmax_cross_entropy', [logits, b.input('labels', 'i32', [2, 3])], { ignoreIndex: -100, labelSmoothing: 0.1 });
    const graph = b.build({ loss: b.add('reduce_sum', [ce], { axes: [0, 1] }) });
    expectGradients(graph, { h: f32([2, 3, 4]), labels: i32([2, 3], [1, 6, -100, 0, 3, 3]) }, new Map([['w', f32([4, 7])]]), 28);
  });

  it('dropout: the same mask forward and backward', () => {
    const graph = withLoss((b) => b.add('dropout', [param(b, 'w', [5, 9]), b.input('seed', 'i32', [])], { p: 0.3, stream: 2 }));
    expectGradients(graph, { seed: i32([], [12345]) }, new Map([['w', f32([5, 9])]]), 45);
  });

  it('composites go through their decompositions: attention, ffn, add_norm, embed, rope', () => {
    const b = new GraphBuilder();
    const ids = b.input('ids', 'i32', [2, 4]);
    const x = b.add('embed', [ids, b.param('emb', 'f32', [9, 8])], { scale: 1 });
    const rotated = b.add('reshape', [b.add('rope', [b.add('reshape', [x], { shape: [2, 4, 2, 4] })], {})], { shape: [2, 4, 8] });
    const att = b.add('attention', [rotated, x, x, b.add('causal_mask', [ids])], { heads: 2 });
    const h = b.add('add_norm', [x, att, b.param('g', 'f32', [8]), b.param('beta', 'f32', [8])]);
    const y = b.add('ffn', [h, b.param('w1', 'f32', [8, 6]), b.param('b1', 'f32', [6]), b.param('w2', 'f32', [6, 8]), b.param('b2', 'f32', [8])], { activation: 'gelu' });
    const graph = b.build({ loss: b.add('reduce_sum', [b.add('mul', [y, b.add('sin', [y])])], { axes: [0, 1, 2] }) });
    const weights = new Map([['emb', f32([9, 8])], ['g', f32([8])], ['beta', f32([8])], ['w1', f32([8, 6])], ['b1', f32([6])], ['w2', f32([6, 8])], ['b2', f32([8])]]);
    expectGradients(graph, { ids: i32([2, 4], [1, 8, 3, 3, 0, 2, 7, 1]) }, weights, 10);
  });
});

describe('grad() outputs and errors', () => {
  it('outputs the loss, grad.<name> per parameter and the outputs kept; a parameter the loss ignores gets zeros', () => {
    const b = new GraphBuilder();
    const w = b.param('w', 'f32', [3]);
    const unused = b.param('unused', 'f32', [2]);
    const graph = b.build({ loss: b.add('reduce_sum', [b.add('mul', [w, w])], { axes: [0] }), other: b.add('neg', [unused]) });
    const g = grad(graph, { loss: 'loss', keep: ['other'] });
    expect(g.outputs.map((o) => o.name)).toEqual(['loss', 'other', 'grad.w', 'grad.unused']);
    const out = interpret(g, {}, new Map([['w', f32([3])], ['unused', f32([2])]]));
    expect(Array.from(out['grad.unused']!.data)).toEqual([0, 0]);
  });

  it('refuses a loss that is not an f32 scalar, an unknown loss or parameter', () => {
    const b = new GraphBuilder();
    const w = b.param('w', 'f32', [3]);
    const graph = b.build({ y: b.add('neg', [w]) });
    expect(() => grad(graph, { loss: 'y' })).toThrow(/the loss 'y' must be an f32 scalar \(\[\] or \[1\]\), got f32\[3\]/);
    expect(() => grad(graph, { loss: 'nope' })).toThrow(/has no output 'nope' \(outputs: y\)/);
    const scalar = b.build({ loss: b.add('reduce_sum', [w], { axes: [0] }) });
    expect(() => grad(scalar, { loss: 'loss', wrt: ['v'] })).toThrow(GradError);
  });

  it('a cache update on the path from a parameter to the loss is an error naming it, its model line and the path', () => {
    const b = new GraphBuilder();
    const cache = b.input('cache', 'f32', [1, 4, 2]);
    const updated = b.add('cache_update', [cache, b.add('tanh', [b.param('w', 'f32', [1, 1, 2])]), b.input('pos', 'i32', [1])], { axis: 1 });
    const graph = b.build({ loss: b.add('reduce_sum', [updated], { axes: [0, 1, 2] }) });
    expect(() => grad(graph, { loss: 'loss' })).toThrow(/grad: cache_update \(.*grad-rules\.test\.ts:\d+\) is on the path from a parameter to the loss, but it is an op without a gradient: param 'w' -> tanh \(.*\) -> cache_update \(.*\) -> reduce_sum \(.*\) -> loss/);
  });

  it('a parameter the loss reads only through a comparison is an error naming the comparison', () => {
    const b = new GraphBuilder();
    const w = b.param('w', 'f32', [3]);
    const mask = b.add('cast', [b.add('greater', [w, b.constant(0)])], { dtype: 'f32' });
    const graph = b.build({ loss: b.add('reduce_sum', [mask], { axes: [0] }) });
    expect(() => grad(graph, { loss: 'loss' })).toThrow(/the loss reads parameter 'w' only through greater \(.*\), which has no gradient \(its output is i32\)/);
  });
});

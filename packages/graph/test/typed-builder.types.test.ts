/**
 * The typed builder's promises, checked twice: at compile time (`@ts-expect-error` lines fail the
 * typecheck if they ever compile, `expectTypeOf` pins inferred shapes) and at run time (the same
 * mistakes, which the types reject, also throw a GraphTypeError from the op's type rule).
 */
import ts from 'typescript';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { GraphBuilder, GraphTypeError, interpret, ModelBuilder, ndarray, type Dim, type Shape, type Tensor } from '../src/index.ts';
import { caught, thisLine } from './test-helpers.ts';

const TEST_FILE = 'packages/graph/test/typed-builder.types.test.ts';

function model() {
  const m = new ModelBuilder();
  return {
    m,
    x: m.input('x', 'f32', ['batch', 'seq', 64]),
    ids: m.input('ids', 'i32', ['batch', 'seq']),
    w: m.param('w', [64, 128]),
    table: m.param('table', [100, 64]),
    a45: m.input('a45', 'f32', [4, 5]),
    v3: m.input('v3', 'f32', [3]),
    v64: m.input('v64', 'f32', [64]),
    g64: m.param('g64', [64]),
    g2x64: m.param('g2x64', [2, 64]),
  };
}

describe('ModelBuilder: mistakes that do not compile', () => {
  it('mixing i32 and f32 in arithmetic', () => {
    const { m, x, ids } = model();
    const i = m.cast(x, 'i32');
    // @ts-expect-error i32 + f32
    expect(() => m.add(i, x)).toThrow(GraphTypeError);
    // @ts-expect-error f32 + i32
    expect(() => m.add(x, i)).toThrow(GraphTypeError);
    // @ts-expect-error f32 * i32
    expect(() => m.mul(x, i)).toThrow(GraphTypeError);
    // @ts-expect-error compare needs one dtype
    expect(() => m.compare('less', ids, m.cast(ids, 'f32'))).toThrow(GraphTypeError);
    // @ts-expect-error where's branches need one dtype
    expect(() => m.where(ids, x, i)).toThrow(GraphTypeError);
  });

  it('f32-only ops given i32', () => {
    const { m, ids, table } = model();
    // @ts-expect-error exp of i32
    expect(() => m.unary('exp', ids)).toThrow(GraphTypeError);
    // @ts-expect-error softmax of i32
    expect(() => m.softmax(ids)).toThrow(GraphTypeError);
    // @ts-expect-error embed needs i32 ids
    expect(() => m.embed(m.cast(ids, 'f32'), table)).toThrow(GraphTypeError);
    // @ts-expect-error where needs an i32 condition
    expect(() => m.where(m.cast(ids, 'f32'), ids, ids)).toThrow(GraphTypeError);
  });

  it('transpose with a perm of the wrong length or with an axis out of range', () => {
    const { m, x } = model();
    // @ts-expect-error rank 3 needs 3 axes
    expect(() => m.transpose(x, [1, 0])).toThrow(GraphTypeError);
    // @ts-expect-error rank 3 needs 3 axes
    expect(() => m.transpose(x, [3, 2, 1, 0])).toThrow(GraphTypeError);
    // @ts-expect-error axis 5 does not exist
    expect(() => m.transpose(x, [0, 1, 5])).toThrow(GraphTypeError);
  });

  it('matmul of rank-1 tensors and mismatched contraction', () => {
    const { m, x, w, v64 } = model();
    // @ts-expect-error a must be a matrix (rank >= 2)
    expect(() => m.matmul(v64, w)).toThrow(GraphTypeError);
    // @ts-expect-error b must be a matrix
    expect(() => m.matmul(x, v64)).toThrow(GraphTypeError);
    // @ts-expect-error 64 (x) against 32 (w)
    expect(() => m.matmul(x, m.param('w32', [32, 128]))).toThrow(GraphTypeError);
  });

  it('elementwise shapes that do not broadcast (literal and symbolic dims)', () => {
    const { m, a45, v3, x } = model();
    // @ts-expect-error [4, 5] + [3]
    expect(() => m.add(a45, v3)).toThrow(GraphTypeError);
    // @ts-expect-error [3] + [4, 5]
    expect(() => m.add(v3, a45)).toThrow(GraphTypeError);
    const bd = m.input('bd', 'f32', ['batch', 64]);
    // @ts-expect-error [batch, seq, 64] + [batch, 64]: 'batch' is not 'seq'
    expect(() => m.sub(x, bd)).toThrow(GraphTypeError);
  });

  it('elementwise mistakes are one error at b, for every binary op, compare and where', () => {
    const { m, x, ids } = model();
    const v32 = m.input('v32', 'f32', [32]);
    // @ts-expect-error [batch, seq, 64] - [32]
    expect(() => m.sub(x, v32)).toThrow(GraphTypeError);
    // @ts-expect-error [batch, seq, 64] / [32]
    expect(() => m.div(x, v32)).toThrow(GraphTypeError);
    // @ts-expect-error pow of [batch, seq, 64] and [32]
    expect(() => m.binaryOp('pow', x, v32)).toThrow(GraphTypeError);
    // @ts-expect-error [batch, seq] against [32]
    expect(() => m.compare('less', ids, m.input('i32x', 'i32', [32]))).toThrow(GraphTypeError);
    // @ts-expect-error cond [batch, seq] against a [32]
    expect(() => m.where(ids, v32, 0)).toThrow(GraphTypeError);
    // @ts-expect-error two numbers: no tensor to take the dtype from
    const twoNumbers = () => m.add(1, 2);
    expect(twoNumbers).toBeTypeOf('function');
  });

  it('a slice of the wrong width fails at the slice', () => {
    const { m } = model();
    const qkv = m.input('qkv', 'f32', ['batch', 'seq', 96]);
    const q: Tensor<'f32', readonly ['batch', 'seq', 32]> = m.slice(qkv, -1, 0, 32);
    // @ts-expect-error [0:48] is 48 wide, not 32
    const k: Tensor<'f32', readonly ['batch', 'seq', 32]> = m.slice(qkv, -1, 32, 80);
    expect([q.shape, k.shape]).toEqual([['batch', 'seq', 32], ['batch', 'seq', 48]]);
  });

  it('attention heads that do not divide a literal model width', () => {
    const { m } = model();
    const x = m.input('x512', 'f32', ['batch', 'seq', 512]);
    // @ts-expect-error 6 does not divide 512
    expect(() => m.attention(x, x, x, 6)).toThrow(GraphTypeError);
    // @ts-expect-error 6 does not divide 512
    expect(() => m.groupedAttention(x, x, x, 6, 2)).toThrow(GraphTypeError);
    // @ts-expect-error kvHeads 3 does not divide heads 8
    expect(() => m.groupedAttention(x, x, x, 8, 3)).toThrow(GraphTypeError);
  });

  it('reshape of literal shapes to another element count', () => {
    const { m, a45 } = model();
    // @ts-expect-error 20 elements cannot become 21
    expect(() => m.reshape(a45, [3, 7])).toThrow(GraphTypeError);
    // @ts-expect-error 20 elements cannot become 40
    expect(() => m.reshape(a45, [2, 2, 5, 2])).toThrow(GraphTypeError);
  });

  it('layer norm with gamma or beta of rank 2', () => {
    const { m, x, g64, g2x64 } = model();
    // @ts-expect-error gamma must be [D]
    expect(() => m.layerNorm(x, g2x64, g64)).toThrow(GraphTypeError);
    // @ts-expect-error beta must be [D]
    expect(() => m.layerNorm(x, g64, g2x64)).toThrow(GraphTypeError);
    // @ts-expect-error add_norm's gamma must be [D]
    expect(() => m.addNorm(x, x, g2x64, g64)).toThrow(GraphTypeError);
  });

  it('reductions, slices and concats along axes that do not exist', () => {
    const { m, x } = model();
    // @ts-expect-error rank 3 has axes -3..2
    expect(() => m.reduce('sum', x, [3])).toThrow(GraphTypeError);
    // @ts-expect-error rank 3 has axes -3..2
    expect(() => m.reduce('mean', x, [-4])).toThrow(GraphTypeError);
    // @ts-expect-error rank 3 has axes -3..2
    expect(() => m.slice(x, 3, 0, 1)).toThrow(GraphTypeError);
    // @ts-expect-error rank 3 has axes -3..2
    expect(() => m.concat([x, x], -4)).toThrow(GraphTypeError);
  });

  it('model blocks given tensors of the wrong rank', () => {
    const { m, x, ids, w, table, g64, v64 } = model();
    const q2 = m.input('q2', 'f32', ['seq', 64]);
    // @ts-expect-error attention needs [B, T, D]
    expect(() => m.attention(q2, x, x, 2)).toThrow(GraphTypeError);
    // @ts-expect-error linear needs a [in, out] weight
    expect(() => m.linear(x, g64)).toThrow(GraphTypeError);
    // @ts-expect-error linear's bias must be [out] = [128]
    expect(() => m.linear(x, w, g64)).toThrow(GraphTypeError);
    // @ts-expect-error embed's table must be [vocab, d]
    expect(() => m.embed(ids, v64)).toThrow(GraphTypeError);
    // @ts-expect-error padding_mask needs ids [B, T]
    expect(() => m.paddingMask(m.cast(x, 'i32'), 0)).toThrow(GraphTypeError);
    // @ts-expect-error causal_mask needs [B, T, ...]
    expect(() => m.causalMask(v64)).toThrow(GraphTypeError);
    // @ts-expect-error gather's indices must be i32
    expect(() => m.gather(table, x)).toThrow(GraphTypeError);
  });
});

describe('ModelBuilder: inferred result types', () => {
  it('matmul keeps the batch axes and replaces K by N', () => {
    const { m, x, w } = model();
    const y = m.matmul(x, w);
    expectTypeOf(y).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 128]>>();
    expect(y.shape).toEqual(['batch', 'seq', 128]);
  });

  it('matmul broadcasts batch axes like numpy', () => {
    const m = new ModelBuilder();
    const y = m.matmul(m.input('a', 'f32', [2, 1, 3, 4]), m.param('b', [5, 4, 6]));
    expectTypeOf(y).toEqualTypeOf<Tensor<'f32', readonly [2, 5, 3, 6]>>();
    expect(y.shape).toEqual([2, 5, 3, 6]);
  });

  it('embed appends the table width; gather appends the row shape', () => {
    const { m, ids, table } = model();
    const e = m.embed(ids, table);
    expectTypeOf(e).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 64]>>();
    expect(e.shape).toEqual(['batch', 'seq', 64]);
    const rows = m.gather(m.param('t3', [10, 2, 3]), ids);
    expectTypeOf(rows).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 2, 3]>>();
    expect(rows.shape).toEqual(['batch', 'seq', 2, 3]);
  });

  it('transpose permutes the tuple', () => {
    const { m, x } = model();
    const t = m.transpose(x, [2, 0, 1]);
    expectTypeOf(t).toEqualTypeOf<Tensor<'f32', readonly [64, 'batch', 'seq']>>();
    expect(t.shape).toEqual([64, 'batch', 'seq']);
  });

  it('elementwise ops take the larger shape; comparisons give i32', () => {
    const { m, x, v64, ids } = model();
    expectTypeOf(m.add(x, v64)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 64]>>();
    expectTypeOf(m.mul(v64, x)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 64]>>();
    expectTypeOf(m.div(x, 8)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 64]>>();
    expectTypeOf(m.compare('equal', ids, 0)).toEqualTypeOf<Tensor<'i32', readonly ['batch', 'seq']>>();
    expectTypeOf(m.cast(ids, 'f32')).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq']>>();
    expectTypeOf(m.unary('gelu', x)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 64]>>();
  });

  it('both operands may stretch: masks combine, [4, 1] + [1, 5] gives [4, 5]', () => {
    const { m, ids } = model();
    const mask = m.add(m.causalMask(ids), m.paddingMask(ids, 0));
    expectTypeOf(mask).toEqualTypeOf<Tensor<'f32', readonly ['batch', 1, 'seq', 'seq']>>();
    expect(mask.shape).toEqual(['batch', 1, 'seq', 'seq']);
    const outer = m.mul(m.input('col', 'f32', [4, 1]), m.input('row', 'f32', [1, 5]));
    expectTypeOf(outer).toEqualTypeOf<Tensor<'f32', readonly [4, 5]>>();
    expect(outer.shape).toEqual([4, 5]);
    // @ts-expect-error [4, 1] and [3, 5] do not broadcast
    expect(() => m.add(m.input('c2', 'f32', [4, 1]), m.input('r2', 'f32', [3, 5]))).toThrow(GraphTypeError);
  });

  it('reductions drop or keep axes, counting negative axes from the end', () => {
    const { m, x } = model();
    const kept = m.reduce('max', x, [-1], true);
    expectTypeOf(kept).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 1]>>();
    expect(kept.shape).toEqual(['batch', 'seq', 1]);
    const dropped = m.reduce('sum', x, [0, 2]);
    expectTypeOf(dropped).toEqualTypeOf<Tensor<'f32', readonly ['seq']>>();
    expect(dropped.shape).toEqual(['seq']);
    const axes: number[] = [1];
    expectTypeOf(m.reduce('mean', m.input('u', 'f32', [2, 3] as Shape), axes)).toEqualTypeOf<Tensor<'f32', Shape>>();
  });

  it('reshape, slice and concat mark the sizes they cannot know', () => {
    const { m, x } = model();
    const flat = m.reshape(x, ['batch*seq', -1]);
    expectTypeOf(flat).toEqualTypeOf<Tensor<'f32', readonly ['batch*seq', Dim]>>();
    expect(flat.shape).toEqual(['batch*seq', 64]);
    const end: number = 16;
    const s = m.slice(x, -1, 0, end);
    expectTypeOf(s).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', Dim]>>();
    expect(s.shape).toEqual(['batch', 'seq', 16]);
    const c = m.concat([x, x], 2);
    expectTypeOf(c).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', Dim]>>();
    expect(c.shape).toEqual(['batch', 'seq', 128]);
  });

  it('slices with literal bounds keep a literal size, Python-style', () => {
    const { m } = model();
    const qkv = m.input('qkv', 'f32', ['batch', 'seq', 96]);
    const cases = [
      [m.slice(qkv, -1, 0, 32), 32],
      [m.slice(qkv, 2, 32, 64), 32],
      [m.slice(qkv, 2, -32, null), 32],
      [m.slice(qkv, 2, 0, 96, 2), 48],
      [m.slice(qkv, 2, 90, 200, 4), 2],
      [m.slice(qkv, 2, -200, -90), 6],
      [m.slice(qkv, 2, 50, 40), 0],
    ] as const;
    expectTypeOf(cases[0][0]).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 32]>>();
    expectTypeOf(cases[1][0]).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 32]>>();
    expectTypeOf(cases[2][0]).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 32]>>();
    expectTypeOf(cases[3][0]).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 48]>>();
    expectTypeOf(cases[4][0]).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 2]>>();
    expectTypeOf(cases[5][0]).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 6]>>();
    expectTypeOf(cases[6][0]).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 0]>>();
    for (const [t, width] of cases) expect(t.shape).toEqual(['batch', 'seq', width]); // the types agree with the op
    expectTypeOf(m.slice(qkv, 1, 0, null)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 96]>>();
    expectTypeOf(m.slice(qkv, 1, 0, 4)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 4, 96]>>();
    const c: number = 32;
    const step: number = 2;
    expectTypeOf(m.slice(qkv, -1, c, 2 * c)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', Dim]>>();
    expectTypeOf(m.slice(qkv, -1, 0, 32, step)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', Dim]>>();
    expectTypeOf(m.slice(m.input('w', 'f32', [c]), 0, 0, 16)).toEqualTypeOf<Tensor<'f32', readonly [Dim]>>(); // clamped to an unknown size
  });

  it('attention and reshape compile where the sizes are not all literals', () => {
    const { m, x } = model();
    const d: number = 384;
    const h: number = 8;
    const xd = m.input('xd', 'f32', ['batch', 'seq', d]);
    const kv = m.input('kv', 'f32', ['batch', 'seq', 128]);
    expectTypeOf(m.attention(xd, xd, xd, 6)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', number]>>();
    expectTypeOf(m.groupedAttention(xd, kv, kv, 6, 2)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', number]>>();
    const x512 = m.input('x512', 'f32', ['batch', 'seq', 512]);
    expectTypeOf(m.attention(x512, x512, x512, h)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 512]>>();
    expectTypeOf(m.attention(x512, x512, x512, 8)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 512]>>();
    expectTypeOf(m.groupedAttention(x512, kv, kv, 8, 2)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 512]>>();
    const x4096 = m.input('x4096', 'f32', [1, 'seq', 4096]);
    expectTypeOf(m.attention(x4096, x4096, x4096, 32)).toEqualTypeOf<Tensor<'f32', readonly [1, 'seq', 4096]>>();
    expect(m.attention(x4096, x4096, x4096, 32).shape).toEqual([1, 'seq', 4096]);
    expectTypeOf(m.reshape(m.input('r', 'f32', [2, 3, 4]), [6, 4])).toEqualTypeOf<Tensor<'f32', readonly [6, 4]>>();
    expectTypeOf(m.reshape(m.input('r1', 'f32', [2, 3, 4]), [-1, 8])).toEqualTypeOf<Tensor<'f32', readonly [Dim, 8]>>();
    expectTypeOf(m.reshape(x, ['batch', 'seq', 8, 8])).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 8, 8]>>();
    expectTypeOf(() => m.reshape(m.input('r2', 'f32', [d, 4]), [2, 2])).returns.toEqualTypeOf<Tensor<'f32', readonly [2, 2]>>(); // d unknown: checked at run time
    expect(() => m.reshape(m.input('r3', 'f32', [d, 4]), [2, 2])).toThrow(GraphTypeError);
  });

  it('a helper generic in the shape keeps it through elementwise ops', () => {
    const m = new ModelBuilder();
    const residual = <S extends Shape>(a: Tensor<'f32', S>, b: Tensor<'f32', S>, keep: Tensor<'i32', S>): Tensor<'f32', S> => m.where(keep, m.add(m.mul(a, 0.5), b), 0);
    const x = m.input('x', 'f32', ['batch', 16]);
    expectTypeOf(residual(x, x, m.input('k', 'i32', ['batch', 16]))).toEqualTypeOf<Tensor<'f32', readonly ['batch', 16]>>();
  });

  it('matmul with transposed B reads b as [..., N, K]', () => {
    const { m, x, table } = model();
    const logits = m.matmul(x, table, { transposeB: true });
    expectTypeOf(logits).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 100]>>();
    expect(logits.shape).toEqual(['batch', 'seq', 100]);
    // @ts-expect-error b^T needs b's last axis to be K = 64
    expect(() => m.matmul(x, m.param('t32', [100, 32]), { transposeB: true })).toThrow(GraphTypeError);
  });

  it('comparisons and where broadcast both sides; where(cond, number, number) is an f32 mask', () => {
    const m = new ModelBuilder();
    const position = m.input('position', 'i32', ['batch']);
    const positions = m.add(m.reshape(position, ['batch', 1]), m.reshape(m.range('seq'), [1, 'seq']));
    expectTypeOf(positions).toEqualTypeOf<Tensor<'i32', readonly ['batch', 'seq']>>();
    const future = m.compare('greater', m.reshape(m.range(8), [1, 1, 8]), m.reshape(positions, ['batch', 'seq', 1]));
    expectTypeOf(future).toEqualTypeOf<Tensor<'i32', readonly ['batch', 'seq', 8]>>();
    expect(future.shape).toEqual(['batch', 'seq', 8]);
    const mask = m.where(future, -1e9, 0);
    expectTypeOf(mask).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 8]>>();
    const picked = m.where(m.input('keep', 'i32', ['batch', 'seq']), m.cast(m.range('seq'), 'f32'), -1);
    expectTypeOf(picked).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq']>>();
    expect(picked.shape).toEqual(['batch', 'seq']);
  });

  it('a state is an input whose cacheUpdate becomes the output of the same name', () => {
    const m = new ModelBuilder();
    const fresh = m.input('k', 'f32', ['batch', 1, 16]);
    const cache = m.state('cache.k', 'f32', ['batch', 32, 16]);
    const updated = cache.write(m.cacheUpdate(cache.value, fresh, m.input('position', 'i32', ['batch']), 1));
    expectTypeOf(updated).toEqualTypeOf<Tensor<'f32', readonly ['batch', 32, 16]>>();
    const graph = m.build({ total: m.reduce('sum', updated, [1, 2]) });
    expect(graph.outputs.map((o) => o.name)).toEqual(['total', 'cache.k']);
    expect(graph.nodes[graph.outputs[1]!.node]!.op).toBe('cache_update');
    // @ts-expect-error rank 3 has axes -3..2
    expect(() => m.cacheUpdate(cache.value, fresh, m.input('p2', 'i32', ['batch']), 3)).toThrow(GraphTypeError);
  });

  it('a state written other than by cacheUpdate, twice, or never is an error naming it', () => {
    const m = new ModelBuilder();
    const cache = m.state('cache.v', 'f32', ['batch', 4]);
    expect(() => cache.write(m.add(cache.value, 1))).toThrow("state 'cache.v' must be written with cacheUpdate");
    expect(() => m.build({ y: cache.value })).toThrow("state 'cache.v' is never written");
    expect(() => m.state('cache.v', 'f32', ['batch', 4])).toThrow("state 'cache.v' declared twice");
    const next = m.cacheUpdate(cache.value, m.input('x', 'f32', ['batch', 1]), m.input('p', 'i32', ['batch']), 1);
    cache.write(next);
    expect(() => cache.write(next)).toThrow("state 'cache.v' written twice");
    expect(() => m.build({ 'cache.v': next })).toThrow("output 'cache.v' is also a state");
  });

  it('slices of a symbolic axis from the back or the front have a static size, checked when the run binds the axis', () => {
    const m = new ModelBuilder();
    const x = m.input('x', 'f32', ['batch', 'seq', 2]);
    const last = m.slice(x, 1, -1, null);
    expectTypeOf(last).toEqualTypeOf<Tensor<'f32', readonly ['batch', 1, 2]>>();
    expect(last.shape).toEqual(['batch', 1, 2]);
    const other = new ModelBuilder();
    const y = other.input('x', 'f32', ['batch', 'seq', 2]);
    expectTypeOf(other.slice(y, 1, -3, -1)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 2, 2]>>();
    expect(other.slice(y, 1, -3, -1).shape).toEqual(['batch', 2, 2]);
    expectTypeOf(() => other.slice(y, 1, 1, -1)).returns.toEqualTypeOf<Tensor<'f32', readonly ['batch', Dim, 2]>>(); // no size: the op rejects it (below)
    expect(() => other.slice(y, 1, 1, -1)).toThrow("slicing symbolic axis 'seq' needs bounds of one sign");
    const graph = m.build({ last, firstTwo: m.slice(x, 1, 0, 2) });
    const feeds = { x: ndarray('f32', [1, 3, 2], [1, 2, 3, 4, 5, 6]) };
    const out = interpret(graph, feeds, new Map());
    expect(Array.from(out['last']!.data)).toEqual([5, 6]);
    expect(Array.from(out['firstTwo']!.data)).toEqual([1, 2, 3, 4]);
    expect(() => interpret(graph, { x: ndarray('f32', [1, 1, 2], [1, 2]) }, new Map())).toThrow(/slice %\d+ \[0:2\] of axis 'seq' needs 2 positions, but 'seq' is 1 in this run/);
  });

  it("the paper's blocks", () => {
    const { m, x, ids, w, g64 } = model();
    expectTypeOf(m.linear(x, w, m.param('bias', [128]))).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 128]>>();
    expectTypeOf(m.attention(x, x, x, 4)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 64]>>();
    expectTypeOf(m.causalMask(ids)).toEqualTypeOf<Tensor<'f32', readonly ['seq', 'seq']>>();
    expectTypeOf(m.paddingMask(ids, 0)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 1, 1, 'seq']>>();
    expectTypeOf(m.addNorm(x, x, g64, g64)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 64]>>();
    expectTypeOf(m.range('seq')).toEqualTypeOf<Tensor<'i32', readonly ['seq']>>();
    expectTypeOf(m.sinusoidalPosenc(x)).toEqualTypeOf<Tensor<'f32', readonly ['batch', 'seq', 64]>>();
  });
});

describe('ModelBuilder: what TypeScript says about a mistake', () => {
  /** Typechecks a snippet beside this file and returns its diagnostics as text. */
  function diagnostics(code: string): string {
    const file = new URL('./__snippet.ts', import.meta.url).pathname;
    const options: ts.CompilerOptions = { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, allowImportingTsExtensions: true, skipLibCheck: true, types: [] };
    const host = ts.createCompilerHost(options);
    const readFile = host.readFile.bind(host);
    host.readFile = (name) => (name === file ? code : readFile(name));
    host.fileExists = ((exists) => (name: string) => name === file || exists(name))(host.fileExists.bind(host));
    const program = ts.createProgram([file], options, host);
    return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n');
  }

  it('a transpose perm of the wrong length, and shapes that do not broadcast, are named in the message', () => {
    const text = diagnostics(`
      import { ModelBuilder } from '../src/index.ts';
      const m = new ModelBuilder();
      const x = m.input('x', 'f32', ['batch', 'seq', 64]);
      m.transpose(x, [1, 0]);
      m.add(m.input('a', 'f32', [4, 5]), m.input('b', 'f32', [3, 5]));
    `);
    expect(text).toContain('transpose: perm must list each of the 3 axes once, got 2');
    expect(text).not.toContain("is not assignable to type 'never'");
    expect(text).toContain('shapes [4, 5] and [3, 5] do not broadcast');
  }, 30_000);
});

describe('GraphBuilder: the same mistakes at run time', () => {
  /** Checks that the error names the op, every input type and this test's line. */
  function expectTypeError(error: Error, line: number, op: string, inputTypes: readonly string[]): void {
    expect(error).toBeInstanceOf(GraphTypeError);
    expect(error.message.startsWith(`${op}: `)).toBe(true);
    for (const t of inputTypes) expect(error.message).toContain(t);
    expect(error.message).toContain(`(at ${TEST_FILE}:${line})`);
  }

  function graph() {
    const g = new GraphBuilder();
    return {
      g,
      x: g.input('x', 'f32', ['batch', 'seq', 64]),
      i: g.input('i', 'i32', ['batch', 'seq', 64]),
      w: g.param('w', 'f32', [64, 128]),
      a45: g.input('a45', 'f32', [4, 5]),
      v3: g.input('v3', 'f32', [3]),
      v64: g.input('v64', 'f32', [64]),
      g2x64: g.param('g2x64', 'f32', [2, 64]),
      g64: g.param('g64', 'f32', [64]),
    };
  }

  it('i32 + f32', () => {
    const { g, x, i } = graph();
    const [line, error] = [thisLine(), caught(() => g.add('add', [i, x]))];
    expectTypeError(error, line, 'add', ['i32[batch, seq, 64]', 'f32[batch, seq, 64]']);
    expect(error.message).toContain('dtypes differ (i32 and f32)');
  });

  it('transpose perm of the wrong length', () => {
    const { g, x } = graph();
    const [line, error] = [thisLine(), caught(() => g.add('transpose', [x], { perm: [1, 0] }))];
    expectTypeError(error, line, 'transpose', ['f32[batch, seq, 64]']);
    expect(error.message).toContain('perm [1, 0] is not a permutation of 3 axes');
  });

  it('matmul of a rank-1 tensor', () => {
    const { g, v64, w } = graph();
    const [line, error] = [thisLine(), caught(() => g.add('matmul', [v64, w]))];
    expectTypeError(error, line, 'matmul', ['f32[64]', 'f32[64, 128]']);
    expect(error.message).toContain('rank >= 2');
  });

  it('[4, 5] + [3]', () => {
    const { g, a45, v3 } = graph();
    const [line, error] = [thisLine(), caught(() => g.add('add', [a45, v3]))];
    expectTypeError(error, line, 'add', ['f32[4, 5]', 'f32[3]']);
    expect(error.message).toContain('do not broadcast');
  });

  it('layer_norm gamma of rank 2', () => {
    const { g, x, g2x64, g64 } = graph();
    const [line, error] = [thisLine(), caught(() => g.add('layer_norm', [x, g2x64, g64]))];
    expectTypeError(error, line, 'layer_norm', ['f32[batch, seq, 64]', 'f32[2, 64]', 'f32[64]']);
    expect(error.message).toContain('gamma must have shape [64]');
  });

  it('a typed-builder call reports the model line, not the builder internals', () => {
    const m = new ModelBuilder();
    const a = m.input('a', 'f32', [4, 5]);
    const b = m.input('b', 'f32', [3]);
    // @ts-expect-error [4, 5] + [3]
    const [line, error] = [thisLine(), caught(() => m.add(a, b))];
    expectTypeError(error, line, 'add', ['f32[4, 5]', 'f32[3]']);
  });

  it('bad attributes and arity name the op and the line too', () => {
    const { g, x } = graph();
    const [line1, attrError] = [thisLine(), caught(() => g.add('softmax', [x], { axis: 'last' }))];
    expect(attrError).toBeInstanceOf(GraphTypeError);
    expect(attrError.message).toMatch(new RegExp(`^softmax: invalid attrs\\.axis: .*\\(at ${TEST_FILE}:${line1}\\)$`));
    const [line2, arityError] = [thisLine(), caught(() => g.add('add', [x]))];
    expectTypeError(arityError, line2, 'add', ['f32[batch, seq, 64]']);
    expect(arityError.message).toContain('expects 2 inputs (a, b), got 1');
    expect(caught(() => g.add('no_such_op', [x])).message).toBe("unknown op 'no_such_op'");
  });
});

/** The reference interpreter: precision modes and the checks on what a run is given. */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, InputError, interpret, ndarray, type Graph, type NDArray } from '../src/index.ts';
import { caught, f32, i32, iota, values } from './test-helpers.ts';

describe('precision', () => {
  /** y = (x + 1e-8) - x: 1e-8 in float64, 0 when every intermediate is stored as float32. */
  function cancellation(): Graph {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [2]);
    const y = b.add('sub', [b.add('add', [x, b.constant(1e-8)]), x]);
    const n = b.add('cast', [b.add('cast', [x], { dtype: 'i32' })], { dtype: 'f32' });
    return b.build({ y, n });
  }

  it('f64 (the default) keeps float64 intermediates', () => {
    const out = interpret(cancellation(), { x: f32([2], [1, 3]) }, new Map());
    expect(out.y!.data).toBeInstanceOf(Float64Array);
    expect(out.y!.data[0]).toBe(1 + 1e-8 - 1); // 9.99999993922529e-9: float64 rounding only
    expect(out.y!.data[0]).not.toBe(0);
  });

  it('f32 rounds every intermediate to float32, inputs included', () => {
    const out = interpret(cancellation(), { x: f32([2], [1, 3]) }, new Map(), { precision: 'f32' });
    expect(out.y!.data).toBeInstanceOf(Float32Array);
    expect(values(out.y!)).toEqual([0, 0]); // 1e-8 is below half an ulp of 1 and 3 in float32
    expect(values(out.n!)).toEqual([1, 3]);
    const x = ndarray('f32', [2], [1, 0.1], 'f64'); // float64 data is converted on the way in
    // 0.1 is read as float32(0.1), and f64 mode keeps it exact
    const b = new GraphBuilder();
    const i = b.input('x', 'f32', [2]);
    const g = b.build({ y: b.add('mul', [i, b.constant(1)]) });
    expect(interpret(g, { x }, new Map(), { precision: 'f32' }).y!.data[1]).toBe(Math.fround(0.1));
    expect(interpret(g, { x }, new Map()).y!.data[1]).toBe(0.1);
  });

  it('i32 values are Int32Array in both modes', () => {
    const b = new GraphBuilder();
    const ids = b.input('ids', 'i32', [3]);
    const g = b.build({ y: b.add('add', [ids, b.constant(1, [], 'i32')]) });
    for (const precision of ['f32', 'f64'] as const) {
      const y = interpret(g, { ids: i32([3], [1, 2, 3]) }, new Map(), { precision }).y!;
      expect(y.data).toBeInstanceOf(Int32Array);
      expect(values(y)).toEqual([2, 3, 4]);
    }
  });

  it('an attention block in f32 stays within float32 error of f64', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['batch', 'seq', 8]);
    const g = b.build({ y: b.add('attention', [x, x, x], { heads: 2 }) });
    const feeds = { x: iota([2, 5, 8], 0.01, -0.3) };
    const [lo, hi] = [interpret(g, feeds, new Map(), { precision: 'f32' }).y!, interpret(g, feeds, new Map()).y!];
    let worst = 0;
    for (let k = 0; k < hi.data.length; k++) worst = Math.max(worst, Math.abs(lo.data[k]! - hi.data[k]!));
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(1e-5);
  });
});

describe('input and weight checks', () => {
  /** ids[batch, seq] and mask[batch, seq] in; emb[10, 4], pos['seq', 4] and bias[4] as weights. */
  function model(): Graph {
    const b = new GraphBuilder();
    const ids = b.input('ids', 'i32', ['batch', 'seq']);
    const mask = b.input('mask', 'f32', ['batch', 'seq']);
    const x = b.add('embed', [ids, b.param('emb', 'f32', [10, 4])]);
    const pos = b.param('pos', 'f32', ['seq', 4]);
    const y = b.add('add', [b.add('add', [x, pos]), b.param('bias', 'f32', [4])]);
    return b.build({ y: b.add('mul', [y, b.add('reshape', [mask], { shape: ['batch', 'seq', 1] })]) });
  }
  const weights = (seq = 3): Map<string, NDArray> =>
    new Map([
      ['emb', iota([10, 4])],
      ['pos', iota([seq, 4], 0.5)],
      ['bias', f32([4], [1, 1, 1, 1])],
    ]);
  const feeds = (): Record<string, NDArray> => ({ ids: i32([2, 3], [1, 2, 3, 4, 5, 6]), mask: f32([2, 3], [1, 1, 0, 1, 0, 0]) });

  const inputError = (fn: () => unknown): string => {
    const error = caught(fn);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).code).toBe('input');
    return error.message;
  };

  it('runs with symbolic dims bound from the inputs, including weights that use them', () => {
    const y = interpret(model(), feeds(), weights()).y!;
    expect(y.shape).toEqual([2, 3, 4]);
    // ids[0, 0] = 1: emb row 1 = [4, 5, 6, 7], pos row 0 = [0, 0.5, 1, 1.5], bias 1, mask 1
    expect(values(y).slice(0, 4)).toEqual([5, 6.5, 8, 9.5]);
    expect(values(y).slice(8, 12)).toEqual([0, 0, 0, 0]);
  });

  it('a missing input names it and its type', () => {
    const { ids } = feeds();
    expect(inputError(() => interpret(model(), { ids: ids! }, weights()))).toBe("missing input 'mask' (f32[batch, seq])");
  });

  it('an unexpected input lists the inputs the graph takes', () => {
    expect(inputError(() => interpret(model(), { ...feeds(), idz: i32([1], [0]) }, weights()))).toBe("unexpected input 'idz'; the graph takes 'ids', 'mask'");
  });

  it('a wrong dtype', () => {
    expect(inputError(() => interpret(model(), { ...feeds(), ids: f32([2, 3], [1, 2, 3, 4, 5, 6]) }, weights()))).toBe("input 'ids': expected dtype i32, got f32");
  });

  it('a wrong rank, and data that does not fill the shape', () => {
    expect(inputError(() => interpret(model(), { ...feeds(), mask: f32([6], [1, 1, 1, 1, 1, 1]) }, weights()))).toBe("input 'mask': expected shape [batch, seq], got [6]");
    const short: NDArray = { dtype: 'f32', shape: [2, 3], data: new Float64Array(5) };
    expect(inputError(() => interpret(model(), { ...feeds(), mask: short }, weights()))).toBe("input 'mask': 5 values for shape [2, 3]");
  });

  it('inconsistent symbolic dims across inputs', () => {
    expect(inputError(() => interpret(model(), { ...feeds(), mask: f32([2, 4], new Array(8).fill(1)) }, weights()))).toBe("input 'mask': dimension 'seq' is 4 here but 3 elsewhere");
    expect(inputError(() => interpret(model(), { ...feeds(), mask: f32([1, 3], [1, 1, 1]) }, weights()))).toBe("input 'mask': dimension 'batch' is 1 here but 2 elsewhere");
  });

  it('a static dim of an input', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['batch', 8]);
    const g = b.build({ y: b.add('neg', [x]) });
    expect(inputError(() => interpret(g, { x: f32([2, 4], new Array(8).fill(0)) }, new Map()))).toBe("input 'x': expected shape [batch, 8], got [2, 4]");
  });

  it('missing and mis-shaped weights are listed together', () => {
    const w = weights();
    w.delete('emb');
    w.set('bias', f32([5], [1, 1, 1, 1, 1]));
    w.set('pos', iota([4, 4])); // 'seq' is 3 in this run
    expect(inputError(() => interpret(model(), feeds(), w))).toBe(
      "missing weight 'emb' f32[10, 4]; weight 'pos': dimension 'seq' should be 3, got 4; weight 'bias': expected shape [4], got [5]",
    );
    const wrongType = weights();
    wrongType.set('emb', i32([10, 4], new Array(40).fill(0)));
    expect(inputError(() => interpret(model(), feeds(), wrongType))).toBe("weight 'emb': expected dtype f32, got i32");
  });

  it('extra weights are ignored (a checkpoint may hold more than one graph uses)', () => {
    const w = weights();
    w.set('unused', f32([1], [0]));
    expect(interpret(model(), feeds(), w).y!.shape).toEqual([2, 3, 4]);
  });

  it('a kernel error names the node and the model line', () => {
    const error = caught(() => interpret(model(), { ...feeds(), ids: i32([2, 3], [1, 2, 3, 4, 5, 60]) }, weights()));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toMatch(/^gather: index 60 at position 5 is outside the table's 10 rows \(node %\d+ gather at packages\/graph\/test\/interpreter\.test\.ts:\d+\)$/);
  });
});

describe('huge shapes', () => {
  it('a tensor past MAX_TENSOR_ELEMENTS is an InputError naming its size and node, not a RangeError or gigabytes', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [1]);
    const g = b.build({ y: b.add('add', [b.constant(1, [20000, 20000]), x]) });
    const error = caught(() => interpret(g, { x: { dtype: 'f32', shape: [1], data: Float32Array.of(1) } }, new Map()));
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(/a tensor of 400000000 elements \(3\.0 GiB\) is more than the 268435456 one tensor may hold; check the shapes \(node %1 constant/);
  });
});

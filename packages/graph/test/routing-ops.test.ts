/**
 * The routing ops (top_k, logical_and/or/not): type rules and reference kernels against values
 * worked out by hand (torch.topk's order: larger first, ties to the lower index, NaN above all).
 */
import { describe, expect, it } from 'vitest';
import { GraphTypeError, InputError, ranksAbove } from '../src/index.ts';
import { caught, f32, i32, inferOp, runOp, values } from './test-helpers.ts';

describe('top_k', () => {
  it('the k largest along the last axis, largest first, ties to the lower index', () => {
    const x = f32([2, 5], [2, 7, 7, 1, 7, -1, -3, -1, -2, -1]);
    expect(values(runOp('top_k', [x], { k: 3 }))).toEqual([7, 7, 7, -1, -1, -1]);
    expect(values(runOp('top_k', [x], { k: 3, output: 'indices' }))).toEqual([1, 2, 4, 0, 2, 4]);
    expect(values(runOp('top_k', [x], { k: 5, output: 'indices' }))).toEqual([1, 2, 4, 0, 3, 0, 2, 4, 3, 1]);
  });

  it('NaN ranks above every number (first NaN first), -Infinity below', () => {
    const x = f32([6], [1, NaN, -Infinity, Infinity, NaN, 0]);
    expect(values(runOp('top_k', [x], { k: 6, output: 'indices' }))).toEqual([1, 4, 3, 0, 5, 2]);
    expect(ranksAbove(NaN, 3, 5, 0)).toBe(true);
    expect(ranksAbove(2, 3, 2, 4)).toBe(true);
    expect(ranksAbove(2, 4, 2, 3)).toBe(false);
  });

  it('types: values keep the dtype, indices are i32, k replaces the last axis; errors name k and the axis', () => {
    expect(inferOp('top_k', [['f32', ['batch', 'seq', 8]]], { k: 2 })).toEqual({ dtype: 'f32', shape: ['batch', 'seq', 2] });
    expect(inferOp('top_k', [['f32', ['tokens', 8]]], { k: 2, output: 'indices' })).toEqual({ dtype: 'i32', shape: ['tokens', 2] });
    expect(caught(() => inferOp('top_k', [['f32', [4, 3]]], { k: 4 }))).toBeInstanceOf(GraphTypeError);
    expect(caught(() => inferOp('top_k', [['f32', [4, 3]]], { k: 4 })).message).toMatch(/k = 4 is more than the last axis' 3 values/);
    expect(caught(() => inferOp('top_k', [['i32', [4, 3]]], { k: 1 })).message).toMatch(/x must be f32 of rank >= 1, got i32/);
    expect(caught(() => inferOp('top_k', [['f32', [4, 3]]], { k: 0 })).message).toMatch(/k/);
  });

  it('a symbolic axis shorter than k at run time is an InputError naming k and the axis', () => {
    expect(caught(() => runOp('top_k', [f32([2, 2], [1, 2, 3, 4])], { k: 3 }, { shapes: [[2, 'n']] }))).toBeInstanceOf(InputError);
  });
});

describe('logical_and, logical_or, logical_not', () => {
  it('nonzero is true, results are 0/1, with broadcasting', () => {
    const a = i32([2, 2], [0, 3, -1, 0]);
    const b = i32([2], [5, 0]);
    expect(values(runOp('logical_and', [a, b]))).toEqual([0, 0, 1, 0]);
    expect(values(runOp('logical_or', [a, b]))).toEqual([1, 1, 1, 0]);
    expect(values(runOp('logical_not', [a]))).toEqual([1, 0, 0, 1]);
  });

  it('need i32 masks: an f32 operand is a type error naming the op', () => {
    expect(caught(() => inferOp('logical_and', [['f32', [2]], ['i32', [2]]])).message).toMatch(/logical_and needs i32 masks, got f32 and i32/);
    expect(caught(() => inferOp('logical_or', [['i32', [2]], ['i32', [3]]])).message).toMatch(/do not broadcast/);
  });
});

describe('expert_matmul', () => {
  // two experts of [K = 2, N = 3]
  const w = f32([2, 2, 3], [1, 2, 3, 4, 5, 6, -1, 0, 1, 0, 2, 0]);

  it('each row times the matrix its id picks; a shared row (axis 1) serves every id of its token', () => {
    const x = f32([2, 1, 2], [1, 1, 2, 0]);
    const ids = i32([2, 2], [1, 0, 0, 0]);
    // token 0 [1, 1]: expert 1 -> [-1, 2, 1], expert 0 -> [5, 7, 9]; token 1 [2, 0]: expert 0 twice -> [2, 4, 6]
    expect(values(runOp('expert_matmul', [x, w, ids]))).toEqual([-1, 2, 1, 5, 7, 9, 2, 4, 6, 2, 4, 6]);
  });

  it('sum adds each token\'s products: [tokens, N]', () => {
    const x = f32([2, 1, 2], [1, 1, 2, 0]);
    expect(values(runOp('expert_matmul', [x, w, i32([2, 2], [1, 0, 0, 0])], { sum: true }))).toEqual([4, 9, 10, 4, 8, 12]);
  });

  it('transposeB reads each expert as [N, K]; one row per id', () => {
    const wt = f32([2, 3, 2], [1, 4, 2, 5, 3, 6, -1, 0, 0, 2, 1, 0]); // w's experts transposed
    const x = f32([2, 2], [1, 1, 2, 0]);
    expect(values(runOp('expert_matmul', [x, wt, i32([2], [1, 0])], { transposeB: true }))).toEqual([-1, 2, 1, 2, 4, 6]);
  });

  it('an id outside the experts is an InputError naming it; shapes that do not fit are type errors naming them', () => {
    expect(caught(() => runOp('expert_matmul', [f32([1, 2], [1, 1]), w, i32([1], [2])])).message).toMatch(/id 2 at position 0 is outside the 2 experts/);
    expect(caught(() => inferOp('expert_matmul', [['f32', [4, 3]], ['f32', [2, 2, 3]], ['i32', [4]]])).message).toMatch(/x's K = 3 does not match the experts' K = 2/);
    expect(caught(() => inferOp('expert_matmul', [['f32', [4, 3, 2]], ['f32', [2, 2, 3]], ['i32', [4, 2]]])).message).toMatch(/x's row axis must be 1 or J = 2, got 3/);
  });
});

describe('moe_ffn', () => {
  /** A dense float64 loop: every expert on every token, weighted by the top-k of the softmax (Mixtral's renormalization), ties to the lower expert. */
  function dense(x: number[][], router: number[][], gate: number[][][], up: number[][][], down: number[][][], k: number, renormalize: boolean): number[][] {
    const silu = (v: number) => v / (1 + Math.exp(-v));
    return x.map((row) => {
      const logits = router[0]!.map((_, e) => row.reduce((s, v, i) => s + v * router[i]![e]!, 0));
      const max = Math.max(...logits);
      const exps = logits.map((l) => Math.exp(l - max));
      const probs = exps.map((p) => p / exps.reduce((a, b) => a + b, 0));
      const order = probs.map((p, e) => [p, e] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k);
      const total = order.reduce((s, [p]) => s + p, 0);
      const out = new Array<number>(row.length).fill(0);
      for (const [p, e] of order) {
        const weight = renormalize ? p / total : p;
        const h = gate[e]![0]!.map((_, f) => silu(row.reduce((s, v, i) => s + v * gate[e]![i]![f]!, 0)) * row.reduce((s, v, i) => s + v * up[e]![i]![f]!, 0));
        for (let d = 0; d < row.length; d++) out[d]! += weight * h.reduce((s, v, f) => s + v * down[e]![f]![d]!, 0);
      }
      return out;
    });
  }

  it.each([[2, true], [1, true], [3, false]] as const)('equals a dense loop over every expert (k = %i, renormalize %s)', (k, renormalize) => {
    const [tokens, d, e, f] = [5, 3, 4, 6];
    let seed = 7 + k;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    const tensor = (shape: number[]) => Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rand);
    const [xs, rs, gs, us, ds] = [tensor([tokens, d]), tensor([d, e]), tensor([e, d, f]), tensor([e, d, f]), tensor([e, f, d])];
    const nest = (flat: number[], shape: number[]): any => (shape.length === 1 ? flat : Array.from({ length: shape[0]! }, (_, i) => nest(flat.slice((i * flat.length) / shape[0]!, ((i + 1) * flat.length) / shape[0]!), shape.slice(1))));
    const got = runOp('moe_ffn', [f32([tokens, d], xs), f32([d, e], rs), f32([e, d, f], gs), f32([e, d, f], us), f32([e, f, d], ds)], { k, renormalize });
    const want = dense(nest(xs, [tokens, d]), nest(rs, [d, e]), nest(gs, [e, d, f]), nest(us, [e, d, f]), nest(ds, [e, f, d]), k, renormalize).flat();
    expect(Math.max(...want.map((v, i) => Math.abs(v - got.data[i]!)))).toBeLessThan(1e-12);
  });

  it('types: the experts must agree with x and the router; k at most the experts', () => {
    const types = (k: number) => inferOp('moe_ffn', [['f32', ['batch', 'seq', 8]], ['f32', [8, 4]], ['f32', [4, 8, 16]], ['f32', [4, 8, 16]], ['f32', [4, 16, 8]]], { k });
    expect(types(2)).toEqual({ dtype: 'f32', shape: ['batch', 'seq', 8] });
    expect(caught(() => types(5)).message).toMatch(/k = 5 must be at most the 4 experts/);
    expect(caught(() => inferOp('moe_ffn', [['f32', [2, 8]], ['f32', [8, 4]], ['f32', [4, 8, 16]], ['f32', [4, 8, 16]], ['f32', [4, 8, 16]]], { k: 2 })).message).toMatch(/w_down must be \[4, 16, 8\]/);
  });
});

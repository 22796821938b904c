/**
 * The ops training brings (broadcast_like, scatter_add, softmax_cross_entropy, dropout): type rules
 * and reference kernels against values worked out by hand or by a few independent lines here.
 */
import { describe, expect, it } from 'vitest';
import { GraphTypeError, InputError } from '../src/index.ts';
import { caught, expectClose, f32, i32, inferOp, runOp, values } from './test-helpers.ts';

describe('training ops', () => {
  it('broadcast_like repeats x to the shape of its second input, any dtype', () => {
    const out = runOp('broadcast_like', [f32([1, 3], [1, 2, 3]), f32([2, 3], [0, 0, 0, 0, 0, 0])]);
    expect(out.shape).toEqual([2, 3]);
    expect(values(out)).toEqual([1, 2, 3, 1, 2, 3]);
  });

  it('scatter_add adds rows of updates into a zero table at their indices, repeated indices summed', () => {
    const out = runOp('scatter_add', [i32([3], [2, 0, 2]), f32([3, 2], [1, 2, 3, 4, 5, 6])], { rows: 4 });
    expect(out.shape).toEqual([4, 2]);
    expect(values(out)).toEqual([3, 4, 0, 0, 6, 8, 0, 0]);
    expect(caught(() => runOp('scatter_add', [i32([1], [4]), f32([1, 2], [1, 2])], { rows: 4 }))).toBeInstanceOf(InputError);
    expect(caught(() => inferOp('scatter_add', [['f32', [3]], ['f32', [3, 2]]], { rows: 4 }))).toBeInstanceOf(GraphTypeError);
  });

  it('softmax_cross_entropy: -log softmax at the label, smoothing mixes in the mean over classes, ignored positions give 0', () => {
    const logits = [1, 2, 3, 0, 0, 0];
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    const plain = runOp('softmax_cross_entropy', [f32([2, 3], logits), i32([2], [0, -100])], { ignoreIndex: -100, labelSmoothing: 0 });
    expectClose(values(plain), [lse - 1, 0], 1e-12);
    const smoothed = runOp('softmax_cross_entropy', [f32([2, 3], logits), i32([2], [2, 1])], { ignoreIndex: -100, labelSmoothing: 0.3 });
    const meanNll = (lse - 1 + lse - 2 + lse - 3) / 3;
    expectClose(values(smoothed), [0.7 * (lse - 3) + 0.3 * meanNll, Math.log(3)], 1e-12);
    expect(caught(() => runOp('softmax_cross_entropy', [f32([1, 3], [0, 0, 0]), i32([1], [3])], { ignoreIndex: -100, labelSmoothing: 0 }))).toBeInstanceOf(InputError);
    expect(caught(() => inferOp('softmax_cross_entropy', [['f32', [2, 3]], ['i32', [3]]], {}))).toBeInstanceOf(GraphTypeError);
  });

  it('dropout keeps about 1 - p of the elements, scaled by 1 / (1 - p), the same mask for the same seed and stream', () => {
    const x = f32([4000], new Array(4000).fill(1));
    const a = values(runOp('dropout', [x, i32([1], [5])], { p: 0.25, stream: 1 }));
    const kept = a.filter((v) => v !== 0);
    expect(kept.every((v) => Math.abs(v - 4 / 3) < 1e-12)).toBe(true);
    expect(Math.abs(kept.length / 4000 - 0.75)).toBeLessThan(0.03);
    expect(values(runOp('dropout', [x, i32([1], [5])], { p: 0.25, stream: 1 }))).toEqual(a);
    expect(values(runOp('dropout', [x, i32([1], [5])], { p: 0.25, stream: 2 }))).not.toEqual(a);
    expect(values(runOp('dropout', [x, i32([1], [5])], { p: 0, stream: 1 }))).toEqual(values(x));
  });
});

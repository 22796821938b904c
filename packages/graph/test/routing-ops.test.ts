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

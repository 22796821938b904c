/**
 * Small helpers shared by the graph package's tests: concrete arrays, one-op graphs run through the
 * reference interpreter, and the line number of the calling test code (to check source locations).
 */
import { expect } from 'vitest';
import { GraphBuilder, interpret, ndarray, type DType, type NDArray, type Precision, type Shape } from '../src/index.ts';

export const f32 = (shape: readonly number[], data: ArrayLike<number>): NDArray => ndarray('f32', shape, data, 'f64');
export const i32 = (shape: readonly number[], data: ArrayLike<number>): NDArray => ndarray('i32', shape, data);

/** 0, 1, 2, ... scaled and shifted, as an f32 array of the given shape. */
export function iota(shape: readonly number[], scale = 1, shift = 0): NDArray {
  const n = shape.reduce((a, b) => a * b, 1);
  return f32(shape, Array.from({ length: n }, (_, i) => i * scale + shift));
}

/** Deterministic pseudo-random values in [-1, 1) (a 32-bit LCG), so failures reproduce. */
export function noise(shape: readonly number[], seed = 1): NDArray {
  const n = shape.reduce((a, b) => a * b, 1);
  let s = seed >>> 0;
  const data = Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
  return f32(shape, data);
}

/**
 * Builds a graph of one op over graph inputs `x0, x1, ...` (declared with the given types, or with
 * the arrays' own static shapes) and evaluates it with the reference interpreter.
 */
export function runOp(
  op: string,
  inputs: readonly NDArray[],
  attrs: Record<string, unknown> = {},
  options: { precision?: Precision; shapes?: readonly Shape[] } = {},
): NDArray {
  const b = new GraphBuilder();
  const refs = inputs.map((x, k) => b.input(`x${k}`, x.dtype, options.shapes?.[k] ?? x.shape));
  const graph = b.build({ y: b.add(op, refs, attrs) });
  const feeds = Object.fromEntries(inputs.map((x, k) => [`x${k}`, x]));
  return interpret(graph, feeds, new Map(), options.precision ? { precision: options.precision } : {}).y!;
}

/** A graph with inputs of the given types and one node of `op`, for type-rule tests. */
export function inferOp(op: string, types: readonly (readonly [DType, Shape])[], attrs: Record<string, unknown> = {}): { dtype: DType; shape: Shape } {
  const b = new GraphBuilder();
  const refs = types.map(([dtype, shape], k) => b.input(`x${k}`, dtype, shape));
  return b.typeOf(b.add(op, refs, attrs));
}

/** The line of the test code that calls this (for source-location assertions). */
export function thisLine(): number {
  const frame = new Error().stack!.split('\n')[2]!;
  return Number(/:(\d+):\d+\)?$/.exec(frame)![1]);
}

/** The error `fn` throws (fails the test when it does not throw). */
export function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

/** Elementwise |actual - expected| <= tol (absolute), with a readable failure. */
export function expectClose(actual: NDArray | ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12): void {
  const data = 'data' in actual ? actual.data : actual;
  expect(data.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = data[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= tol)) expect.fail(`element ${i}: got ${a}, expected ${e} (tol ${tol})`);
  }
}

/** The values of an array as a plain list. */
export const values = (a: NDArray): number[] => Array.from(a.data);

import type { NDArray } from '@loom/graph';

/** Deterministic pseudo-random values in [-1, 1) (a linear congruential generator from `seed`). */
export function seededValues(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** A float32 array of `shape` filled with seededValues. */
export const seededF32 = (shape: number[], seed: number): NDArray => ({ dtype: 'f32', shape, data: seededValues(shape.reduce((a, b) => a * b, 1), seed) });

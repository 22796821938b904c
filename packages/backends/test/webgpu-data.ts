import { mulberry32, type NDArray } from '@loom/graph';
import { expect } from 'vitest';

/** Seeded data and tolerant comparison for the WebGPU tests (no device needed). */

/** A seeded generator (mulberry32), so failures reproduce. */
export const rng = mulberry32;

export function randomF32(shape: readonly number[], random: () => number, lo = -1, hi = 1): NDArray {
  const size = shape.reduce((p, d) => p * d, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = lo + (hi - lo) * random();
  return { dtype: 'f32', shape: [...shape], data };
}

export function randomI32(shape: readonly number[], random: () => number, lo: number, hi: number): NDArray {
  const size = shape.reduce((p, d) => p * d, 1);
  const data = new Int32Array(size);
  for (let i = 0; i < size; i++) data[i] = lo + Math.floor((hi - lo + 1) * random());
  return { dtype: 'i32', shape: [...shape], data };
}

export interface Tolerance {
  readonly atol?: number;
  readonly rtol?: number;
}

/** Largest violation of |got - want| <= atol + rtol |want| (NaN matches NaN), with its index. */
export function compare(got: NDArray, want: NDArray, tol: Tolerance = {}): { worst: number; index: number; maxAbs: number } {
  const atol = tol.atol ?? 1e-5;
  const rtol = tol.rtol ?? 1e-5;
  expect(got.shape).toEqual(want.shape);
  expect(got.dtype).toBe(want.dtype);
  let worst = 0;
  let index = -1;
  let maxAbs = 0;
  for (let i = 0; i < want.data.length; i++) {
    const g = got.data[i]!;
    const w = want.data[i]!;
    if (g === w || (Number.isNaN(w) && Number.isNaN(g))) continue;
    const diff = Math.abs(g - w);
    if (!(diff <= maxAbs)) maxAbs = Number.isNaN(diff) ? Infinity : Math.max(maxAbs, diff);
    const excess = Number.isNaN(diff) ? Infinity : diff / (atol + rtol * Math.abs(w));
    if (excess > worst) {
      worst = excess;
      index = i;
    }
  }
  return { worst, index, maxAbs };
}

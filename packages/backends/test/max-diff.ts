import { maxAbsDiff, type NDArray } from '@loom/graph';
import { expect } from 'vitest';

/** The largest elementwise difference of two arrays, after expecting their shapes to agree. */
export function maxDiff(a: NDArray, b: NDArray): number {
  expect(a.shape).toEqual(b.shape);
  return maxAbsDiff(a.data, b.data);
}

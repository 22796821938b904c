import { z } from 'zod';
import { InputError } from '../errors.ts';
import { sizeOf } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { dimEquals, normalizeAxis } from '../shape.ts';

/**
 * The KV-cache write: `cache` with `update` stored at [position, position + T) along `axis`.
 *   cache[B, ..., Tmax, ...], update[B, ..., T, ...], position i32[1] or i32[B] -> cache's type
 * With one position per batch row (axis 0), rows of different lengths append at their own ends.
 * Functional in meaning (the reference copies); compiled plans update the cache in place when the
 * cache is a state (a graph input and output of the same name), so decoding never copies it.
 */
export const cacheUpdate = defineOp({
  name: 'cache_update',
  category: 'primitive',
  summary: 'write a block into a cache along an axis at a run-time position',
  attrs: z.object({ axis: z.number().int() }).strict(),
  inputs: ['cache', 'update', 'position'],
  minInputs: 3,
  infer([cache, update, position], a) {
    typeRule(cache!.dtype === update!.dtype, `cache and update dtypes differ (${cache!.dtype} and ${update!.dtype})`);
    const axis = normalizeAxis(a.axis, cache!.shape.length);
    typeRule(axis !== undefined && axis > 0 && update!.shape.length === cache!.shape.length, `axis ${a.axis} must be a non-batch axis of rank ${cache!.shape.length}, the update's rank`);
    const rows = position!.shape[0];
    typeRule(
      position!.dtype === 'i32' && position!.shape.length === 1 && (dimEquals(rows!, 1) || dimEquals(rows!, cache!.shape[0]!)),
      `position must be i32[1] or i32[${cache!.shape[0]}] (one per batch row)`,
    );
    typeRule(
      cache!.shape.every((d, i) => i === axis || dimEquals(d, update!.shape[i]!)),
      'cache and update must agree on every axis but the cache axis',
    );
    return cache!;
  },
  evaluate([cache, update, position], a, ctx) {
    const axis = normalizeAxis(a.axis, cache!.shape.length)!;
    const out = cache!.data.slice();
    writeBlock(out, update!.data, cache!.shape, update!.shape, axis, position!.data);
    return { dtype: cache!.dtype, shape: ctx.outShape, data: out };
  },
});

/** Writes `update` into `cache` at `position` along `axis`; shared by the reference and the CPU kernel. */
export function writeBlock(
  cache: { set(a: ArrayLike<number>, offset: number): void; length: number },
  update: ArrayLike<number> & { subarray(begin: number, end: number): ArrayLike<number> },
  cacheShape: readonly number[],
  updateShape: readonly number[],
  axis: number,
  positions: ArrayLike<number>,
): void {
  const capacity = cacheShape[axis]!;
  const t = updateShape[axis]!;
  const rows = cacheShape[0]!;
  for (let r = 0; r < positions.length; r++) {
    const p = positions[r]!;
    if (!(p >= 0 && p + t <= capacity)) throw new InputError(`cache_update: positions ${p}..${p + t - 1} do not fit a cache of ${capacity}`);
  }
  const outer = sizeOf(cacheShape.slice(0, axis));
  const inner = sizeOf(cacheShape.slice(axis + 1));
  const outerPerRow = outer / Math.max(rows, 1);
  for (let o = 0; o < outer; o++) {
    const p = positions.length === 1 ? positions[0]! : positions[Math.floor(o / outerPerRow)]!;
    const from = o * t * inner;
    cache.set(update.subarray(from, from + t * inner), (o * capacity + p) * inner);
  }
}

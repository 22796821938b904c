import { z } from 'zod';
import { InputError } from '../errors.ts';
import { sizeOf } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { dimEquals, normalizeAxis } from '../shape.ts';

/**
 * The KV-cache write: `cache` with `update` stored at [position, position + T) along `axis`.
 *   cache[B, ..., Tmax, ...], update[B, ..., T, ...], position i32[1] or i32[B] -> cache's type
 * With one position per batch row (axis 0), rows of different lengths append at their own ends.
 * `count` (i32 [1] or [B], optional) writes only each row's first count update rows (a right-padded
 * prefill: the padding is not written). `rolling` makes the axis a ring of Tmax slots: update row t
 * goes to slot (position + t) mod Tmax, so a sliding window's cache holds the last Tmax positions
 * (of more than Tmax new rows only the last Tmax are written; the earlier would be overwritten).
 * Functional in meaning (the reference copies); compiled plans update the cache in place when the
 * cache is a state (a graph input and output of the same name), so decoding never copies it.
 */
export const cacheUpdate = defineOp({
  name: 'cache_update',
  category: 'primitive',
  summary: 'write a block into a cache along an axis at a run-time position',
  attrs: z.object({ axis: z.number().int(), rolling: z.boolean().default(false) }).strict(),
  inputs: ['cache', 'update', 'position', 'count'],
  minInputs: 3,
  infer([cache, update, position, count], a) {
    typeRule(cache!.dtype === update!.dtype, `cache and update dtypes differ (${cache!.dtype} and ${update!.dtype})`);
    const axis = normalizeAxis(a.axis, cache!.shape.length);
    typeRule(axis !== undefined && axis > 0 && update!.shape.length === cache!.shape.length, `axis ${a.axis} must be a non-batch axis of rank ${cache!.shape.length}, the update's rank`);
    const rows = position!.shape[0];
    typeRule(
      position!.dtype === 'i32' && position!.shape.length === 1 && (dimEquals(rows!, 1) || dimEquals(rows!, cache!.shape[0]!)),
      `position must be i32[1] or i32[${cache!.shape[0]}] (one per batch row)`,
    );
    if (count) {
      const n = count.shape[0];
      typeRule(count.dtype === 'i32' && count.shape.length === 1 && (dimEquals(n!, 1) || dimEquals(n!, cache!.shape[0]!)), `count must be i32[1] or i32[${cache!.shape[0]}] (one per batch row)`);
    }
    typeRule(
      cache!.shape.every((d, i) => i === axis || dimEquals(d, update!.shape[i]!)),
      'cache and update must agree on every axis but the cache axis',
    );
    return cache!;
  },
  evaluate([cache, update, position, count], a, ctx) {
    const axis = normalizeAxis(a.axis, cache!.shape.length)!;
    const out = cache!.data.slice();
    writeBlock(out, update!.data, cache!.shape, update!.shape, axis, position!.data, { rolling: a.rolling, ...(count ? { counts: count.data } : {}) });
    return { dtype: cache!.dtype, shape: ctx.outShape, data: out };
  },
});

/** Writes `update` into `cache` at `position` along `axis` (a ring with `rolling`; `counts` rows per batch row); shared by the reference and the CPU kernel. */
export function writeBlock(
  cache: { set(a: ArrayLike<number>, offset: number): void; length: number },
  update: ArrayLike<number> & { subarray(begin: number, end: number): ArrayLike<number> },
  cacheShape: readonly number[],
  updateShape: readonly number[],
  axis: number,
  positions: ArrayLike<number>,
  options: { readonly rolling?: boolean; readonly counts?: ArrayLike<number> | undefined } = {},
): void {
  const capacity = cacheShape[axis]!;
  const t = updateShape[axis]!;
  const rows = cacheShape[0]!;
  const counts = options.counts;
  const countOf = (r: number) => (counts === undefined ? t : counts.length === 1 ? counts[0]! : counts[r]!);
  for (let r = 0; r < Math.max(positions.length, counts?.length ?? 0); r++) {
    const p = positions.length === 1 ? positions[0]! : positions[r]!;
    const n = countOf(r);
    if (!(n >= 0 && n <= t)) throw new InputError(`cache_update: count ${n} of row ${r} is outside 0..${t} (the update's rows)`);
    if (options.rolling ? !(p >= 0) || (capacity === 0 && n > 0) : !(p >= 0 && p + n <= capacity)) {
      throw new InputError(`cache_update: positions ${p}..${p + n - 1} do not fit a ${options.rolling ? 'ring' : 'cache'} of ${capacity}`);
    }
  }
  const outer = sizeOf(cacheShape.slice(0, axis));
  const inner = sizeOf(cacheShape.slice(axis + 1));
  const outerPerRow = outer / Math.max(rows, 1);
  for (let o = 0; o < outer; o++) {
    const row = Math.floor(o / outerPerRow);
    const p = positions.length === 1 ? positions[0]! : positions[row]!;
    const n = countOf(row);
    const from = o * t * inner;
    if (!options.rolling) {
      cache.set(update.subarray(from, from + n * inner), (o * capacity + p) * inner);
      continue;
    }
    for (let k = Math.max(0, n - capacity); k < n; k++) {
      const slot = (p + k) % capacity;
      cache.set(update.subarray(from + k * inner, from + (k + 1) * inner), (o * capacity + slot) * inner);
    }
  }
}

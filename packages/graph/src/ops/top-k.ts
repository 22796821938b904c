import { z } from 'zod';
import { InputError } from '../errors.ts';
import { allocStorage, sizeOf } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';

/**
 * The k largest values along the last axis, largest first, and where they are:
 *   x[..., N] -> values [..., k] (x's dtype) or indices i32 [..., k]
 * Ties go to the lower index and NaN ranks above every number, as torch.topk orders them. The IR's
 * ops have one output, so the pair is two nodes of this op (`output: 'values'` and `'indices'`);
 * the typed builder's `topK` makes both. A mixture-of-experts router picks its experts with it.
 */
export const topK = defineOp({
  name: 'top_k',
  category: 'primitive',
  summary: 'the k largest values along the last axis (or their indices), ties to the lower index',
  attrs: z.object({ k: z.number().int().positive(), output: z.enum(['values', 'indices']).default('values') }).strict(),
  inputs: ['x'],
  minInputs: 1,
  infer([x], a) {
    typeRule(x!.dtype === 'f32' && x!.shape.length >= 1, `x must be f32 of rank >= 1, got ${x!.dtype} rank ${x!.shape.length}`);
    const n = x!.shape[x!.shape.length - 1]!;
    typeRule(typeof n !== 'number' || a.k <= n, `k = ${a.k} is more than the last axis' ${n} values`);
    return { dtype: a.output === 'indices' ? 'i32' : x!.dtype, shape: [...x!.shape.slice(0, -1), a.k] };
  },
  evaluate([x], a, ctx) {
    const n = x!.shape[x!.shape.length - 1]!;
    const out = allocStorage(a.output === 'indices' ? 'i32' : x!.dtype, sizeOf(ctx.outShape), ctx.precision);
    topKRows(x!.data, n, a.k, a.output, out);
    return { dtype: a.output === 'indices' ? 'i32' : x!.dtype, shape: ctx.outShape, data: out };
  },
});

/** Whether value `a` at index `i` comes before value `b` at index `j` in top_k's order. */
export function ranksAbove(a: number, i: number, b: number, j: number): boolean {
  if (a !== a) return b === b || i < j; // NaN first, NaNs by index
  if (b !== b) return false;
  return a > b || (a === b && i < j);
}

/**
 * Each row of `x` (rows of `n`) to its top `k` values or indices in `out` (rows of `k`), by insertion
 * into a sorted list of k (O(n k): k is small where top_k is used). Shared by the reference and the cpu.
 */
export function topKRows(x: ArrayLike<number>, n: number, k: number, output: 'values' | 'indices', out: { [i: number]: number; length: number }): void {
  if (k > n) throw new InputError(`top_k: k = ${k} is more than the last axis' ${n} values`);
  const rows = n === 0 ? 0 : x.length / n;
  const best = new Int32Array(k);
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    let count = 0;
    for (let j = 0; j < n; j++) {
      const v = x[base + j]!;
      // indices arrive in increasing order: an equal value never displaces an earlier one
      if (count === k && !ranksAbove(v, j, x[base + best[k - 1]!]!, best[k - 1]!)) continue;
      let at = count < k ? count++ : k - 1;
      while (at > 0 && ranksAbove(v, j, x[base + best[at - 1]!]!, best[at - 1]!)) {
        best[at] = best[at - 1]!;
        at--;
      }
      best[at] = j;
    }
    for (let t = 0; t < k; t++) out[r * k + t] = output === 'indices' ? best[t]! : x[base + best[t]!]!;
  }
}

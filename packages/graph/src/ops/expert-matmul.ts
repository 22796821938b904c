import { z } from 'zod';
import { InputError } from '../errors.ts';
import { allocStorage, sizeOf } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { dimEquals, formatShape } from '../shape.ts';

/**
 * Each row times the weight matrix its id picks: the product a sparse mixture of experts runs.
 *   x [..., J or 1, K], w [E, K, N] (or [E, N, K] with transposeB), ids i32 [..., J] -> [..., J, N]
 *   out[..., j, :] = x[..., j, :] @ w[ids[..., j]]   (x's row 0 for every j when its J axis is 1)
 * With `sum` the J products are added instead: out [..., N] (a mixture's weighted experts combined).
 * A token routed to k experts is one row with J = k: its k products cost k of them, not E (llama.cpp's
 * mul_mat_id). Kernels group the rows by expert and run each expert's rows as one product.
 */
export const expertMatmul = defineOp({
  name: 'expert_matmul',
  category: 'primitive',
  summary: "each row times the expert weight matrix its id picks (a mixture of experts' products)",
  attrs: z.object({ transposeB: z.boolean().default(false), sum: z.boolean().default(false) }).strict(),
  inputs: ['x', 'w', 'ids'],
  minInputs: 3,
  infer([x, w, ids], a) {
    typeRule(x!.dtype === 'f32' && w!.dtype === 'f32', `x and w must be f32, got ${x!.dtype} and ${w!.dtype}`);
    typeRule(ids!.dtype === 'i32' && ids!.shape.length >= 1, `ids must be i32 of rank >= 1, got ${ids!.dtype} ${formatShape(ids!.shape)}`);
    typeRule(w!.shape.length === 3, `w must be [experts, K, N], got ${formatShape(w!.shape)}`);
    const rank = ids!.shape.length;
    typeRule(x!.shape.length === rank + 1, `x must be [..., J or 1, K] with ids' ${rank} axes before K, got x ${formatShape(x!.shape)} and ids ${formatShape(ids!.shape)}`);
    const lead = ids!.shape.slice(0, -1);
    typeRule(x!.shape.slice(0, rank - 1).every((d, i) => dimEquals(d, lead[i]!)), `x ${formatShape(x!.shape)} and ids ${formatShape(ids!.shape)} differ before the last axes`);
    const j = x!.shape[rank - 1]!;
    typeRule(dimEquals(j, 1) || dimEquals(j, ids!.shape[rank - 1]!), `x's row axis must be 1 or J = ${ids!.shape[rank - 1]}, got ${j}`);
    const [kw, n] = a.transposeB ? [w!.shape[2]!, w!.shape[1]!] : [w!.shape[1]!, w!.shape[2]!];
    typeRule(dimEquals(x!.shape[rank]!, kw), `x's K = ${x!.shape[rank]} does not match the experts' K = ${kw}`);
    return { dtype: 'f32', shape: a.sum ? [...lead, n] : [...ids!.shape, n] };
  },
  evaluate([x, w, ids], a, ctx) {
    const [experts, wk, wn] = w!.shape as [number, number, number];
    const [k, n] = a.transposeB ? [wn, wk] : [wk, wn];
    const j = ids!.shape[ids!.shape.length - 1]!;
    const rowsOfX = x!.shape[x!.shape.length - 2]!;
    const out = allocStorage('f32', sizeOf(ctx.outShape), ctx.precision);
    for (let r = 0; r < ids!.data.length; r++) {
      const e = ids!.data[r]!;
      if (!(e >= 0 && e < experts)) throw new InputError(`expert_matmul: id ${e} at position ${r} is outside the ${experts} experts`);
      const xRow = rowsOfX === 1 ? Math.floor(r / j) : r;
      // with sum, row r adds into its token's row, the J products in order
      const at = (a.sum ? Math.floor(r / j) : r) * n;
      for (let col = 0; col < n; col++) {
        let sum = 0;
        for (let i = 0; i < k; i++) sum += x!.data[xRow * k + i]! * w!.data[e * k * n + (a.transposeB ? col * k + i : i * n + col)]!;
        out[at + col]! += sum;
      }
    }
    return { dtype: 'f32', shape: ctx.outShape, data: out };
  },
});

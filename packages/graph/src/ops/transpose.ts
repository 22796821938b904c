import { z } from 'zod';
import { allocStorage, sizeOf, stridesOf } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';

/** Axis permutation: out.shape[i] = x.shape[perm[i]]. */
export const transpose = defineOp({
  name: 'transpose',
  category: 'primitive',
  summary: 'permute axes',
  attrs: z.object({ perm: z.array(z.number().int().nonnegative()) }).strict(),
  inputs: ['x'],
  minInputs: 1,
  infer([x], a) {
    const rank = x!.shape.length;
    const sorted = [...a.perm].sort((p, q) => p - q);
    typeRule(a.perm.length === rank && sorted.every((p, i) => p === i), `perm [${a.perm.join(', ')}] is not a permutation of ${rank} axes`);
    return { dtype: x!.dtype, shape: a.perm.map((p) => x!.shape[p]!) };
  },
  evaluate([x], a, ctx) {
    const inStrides = stridesOf(x!.shape);
    const out = ctx.outShape;
    const srcStrides = a.perm.map((p) => inStrides[p]!);
    const data = allocStorage(x!.dtype, sizeOf(out), ctx.precision);
    const src = x!.data;
    const rank = out.length;
    const counter = new Array<number>(rank).fill(0);
    let off = 0;
    for (let i = 0; i < data.length; i++) {
      data[i] = src[off]!;
      for (let ax = rank - 1; ax >= 0; ax--) {
        counter[ax]!++;
        off += srcStrides[ax]!;
        if (counter[ax]! < out[ax]!) break;
        off -= srcStrides[ax]! * out[ax]!;
        counter[ax] = 0;
      }
    }
    return { dtype: x!.dtype, shape: out, data };
  },
});

import { z } from 'zod';
import { allocStorage } from '../ndarray.ts';
import { defineOp } from '../op-def.ts';
import { dtypeSchema } from './schemas.ts';

/** Converts between f32 and i32 (f32 -> i32 truncates toward zero). */
export const cast = defineOp({
  name: 'cast',
  category: 'elementwise',
  summary: 'convert the element type',
  attrs: z.object({ dtype: dtypeSchema }).strict(),
  inputs: ['x'],
  minInputs: 1,
  infer: ([x], a) => ({ dtype: a.dtype, shape: x!.shape }),
  evaluate([x], a, ctx) {
    const out = allocStorage(a.dtype, x!.data.length, ctx.precision);
    const src = x!.data;
    for (let i = 0; i < src.length; i++) out[i] = a.dtype === 'i32' ? Math.trunc(src[i]!) : src[i]!;
    return { dtype: a.dtype, shape: ctx.outShape, data: out };
  },
});

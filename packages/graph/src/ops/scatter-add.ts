import { z } from 'zod';
import { InputError } from '../errors.ts';
import { allocStorage, sizeOf } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { dimSchema } from './schemas.ts';

/**
 * Rows of `updates` added into a zero table at the rows `indices` name: gather's gradient.
 *   indices i32[...idx], updates f32[...idx, ...rest], rows R -> f32[R, ...rest]
 * out[r] = sum of updates[i] over the positions i whose index is r, added in position order.
 */
export const scatterAdd = defineOp({
  name: 'scatter_add',
  category: 'primitive',
  summary: "updates added into a zero table at the rows indices name (gather's gradient)",
  attrs: z.object({ rows: dimSchema }).strict(),
  inputs: ['indices', 'updates'],
  minInputs: 2,
  infer([indices, updates], a) {
    typeRule(indices!.dtype === 'i32', `indices must be i32, got ${indices!.dtype}`);
    typeRule(updates!.dtype === 'f32', `updates must be f32, got ${updates!.dtype}`);
    const rank = indices!.shape.length;
    typeRule(updates!.shape.length >= rank && indices!.shape.every((d, i) => String(d) === String(updates!.shape[i])), `updates must start with the indices' shape [${indices!.shape.join(', ')}]`);
    return { dtype: 'f32', shape: [a.rows, ...updates!.shape.slice(rank)] };
  },
  evaluate([indices, updates], _a, ctx) {
    const rows = ctx.outShape[0]!;
    const width = sizeOf(ctx.outShape.slice(1));
    const out = allocStorage('f32', rows * width, ctx.precision);
    const idx = indices!.data;
    for (let i = 0; i < idx.length; i++) {
      const r = idx[i]!;
      if (!(r >= 0 && r < rows)) throw new InputError(`scatter_add: index ${r} at position ${i} is outside the table's ${rows} rows`);
      for (let j = 0; j < width; j++) out[r * width + j]! += updates!.data[i * width + j]!;
    }
    return { dtype: 'f32', shape: ctx.outShape, data: out };
  },
});

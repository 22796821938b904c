import { z } from 'zod';
import { InputError } from '../errors.ts';
import { allocStorage, sizeOf } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';

/** Rows of `table` picked by integer `indices`: table[V, ...rest], indices[...idx] -> [...idx, ...rest]. */
export const gather = defineOp({
  name: 'gather',
  category: 'primitive',
  summary: 'table rows selected by i32 indices (embedding lookup)',
  attrs: z.object({}).strict(),
  inputs: ['table', 'indices'],
  minInputs: 2,
  infer([table, indices]) {
    typeRule(indices!.dtype === 'i32', `indices must be i32, got ${indices!.dtype}`);
    typeRule(table!.shape.length >= 1, 'table needs rank >= 1');
    return { dtype: table!.dtype, shape: [...indices!.shape, ...table!.shape.slice(1)] };
  },
  evaluate([table, indices], _a, ctx) {
    const rows = table!.shape[0]!;
    const width = sizeOf(table!.shape.slice(1));
    const idx = indices!.data;
    const out = allocStorage(table!.dtype, idx.length * width, ctx.precision);
    for (let i = 0; i < idx.length; i++) {
      const r = idx[i]!;
      if (!(r >= 0 && r < rows)) throw new InputError(`gather: index ${r} at position ${i} is outside the table's ${rows} rows`);
      out.set(table!.data.subarray(r * width, (r + 1) * width), i * width);
    }
    return { dtype: table!.dtype, shape: ctx.outShape, data: out };
  },
});

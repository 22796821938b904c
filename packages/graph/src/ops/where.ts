import { z } from 'zod';
import { allocStorage, sizeOf } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { broadcastShapes, formatShape } from '../shape.ts';
import { forEachBroadcast } from './broadcast.ts';

/** cond ? a : b elementwise, with broadcasting; cond is i32 (nonzero = true). */
export const where = defineOp({
  name: 'where',
  category: 'elementwise',
  summary: 'select a where cond is nonzero, else b',
  attrs: z.object({}).strict(),
  inputs: ['cond', 'a', 'b'],
  minInputs: 3,
  infer([cond, a, b]) {
    typeRule(cond!.dtype === 'i32', `cond must be i32, got ${cond!.dtype}`);
    typeRule(a!.dtype === b!.dtype, `branches differ in dtype (${a!.dtype} and ${b!.dtype})`);
    const ab = broadcastShapes(a!.shape, b!.shape);
    const shape = ab && broadcastShapes(cond!.shape, ab);
    typeRule(shape, `shapes ${formatShape(cond!.shape)}, ${formatShape(a!.shape)}, ${formatShape(b!.shape)} do not broadcast`);
    return { dtype: a!.dtype, shape };
  },
  evaluate([cond, a, b], _a, ctx) {
    const out = allocStorage(a!.dtype, sizeOf(ctx.outShape), ctx.precision);
    const [c, x, y] = [cond!.data, a!.data, b!.data];
    forEachBroadcast(ctx.outShape, [cond!.shape, a!.shape, b!.shape], (i, off) => {
      out[i] = c[off[0]!] ? x[off[1]!]! : y[off[2]!]!;
    });
    return { dtype: a!.dtype, shape: ctx.outShape, data: out };
  },
});

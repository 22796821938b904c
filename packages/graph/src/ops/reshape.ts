import { z } from 'zod';
import { defineOp, typeRule } from '../op-def.ts';
import { canonicalDim, divideDims, dimEquals, formatShape, multiplyDims, type Dim } from '../shape.ts';
import { dimSchema } from './schemas.ts';

/** Same elements, new shape. One entry may be -1 (inferred); symbolic sizes must agree as products. */
export const reshape = defineOp({
  name: 'reshape',
  category: 'primitive',
  summary: 'new shape for the same row-major elements',
  attrs: z.object({ shape: z.array(z.union([z.literal(-1), dimSchema])) }).strict(),
  inputs: ['x'],
  minInputs: 1,
  infer([x], a) {
    const total = multiplyDims(x!.shape);
    const holes = a.shape.filter((d) => d === -1).length;
    typeRule(holes <= 1, 'at most one -1 in the target shape');
    const known = multiplyDims(a.shape.filter((d) => d !== -1));
    let shape: Dim[];
    if (holes === 1) {
      const inferred = divideDims(total, known);
      typeRule(inferred !== undefined, `cannot infer -1: ${formatShape(x!.shape)} does not divide by ${known}`);
      shape = a.shape.map((d) => (d === -1 ? inferred : canonicalDim(d)));
    } else {
      typeRule(dimEquals(total, known), `${formatShape(x!.shape)} (${total} elements) cannot become ${formatShape(a.shape)} (${known})`);
      shape = a.shape.map(canonicalDim);
    }
    return { dtype: x!.dtype, shape };
  },
  evaluate([x], _a, ctx) {
    return { dtype: x!.dtype, shape: ctx.outShape, data: x!.data };
  },
});

import { z } from 'zod';
import { allocStorage, sizeOf } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { dimEquals, formatShape, normalizeAxis } from '../shape.ts';

/** Joins tensors along one (static) axis; all other axes must agree. */
export const concat = defineOp({
  name: 'concat',
  category: 'primitive',
  summary: 'join along an axis',
  attrs: z.object({ axis: z.number().int() }).strict(),
  inputs: ['x0', 'x1'],
  minInputs: 1,
  variadic: true,
  infer(xs, a) {
    const first = xs[0]!;
    const axis = normalizeAxis(a.axis, first.shape.length);
    typeRule(axis !== undefined, `axis ${a.axis} is out of range for rank ${first.shape.length}`);
    let total = 0;
    for (const x of xs) {
      typeRule(x.dtype === first.dtype, `dtypes differ (${first.dtype} and ${x.dtype})`);
      typeRule(
        x.shape.length === first.shape.length && x.shape.every((d, i) => i === axis || dimEquals(d, first.shape[i]!)),
        `${formatShape(x.shape)} does not match ${formatShape(first.shape)} outside axis ${axis}`,
      );
      const d = x.shape[axis]!;
      typeRule(typeof d === 'number', `cannot concatenate along symbolic axis ${axis} ('${d}')`);
      total += d;
    }
    const shape = [...first.shape];
    shape[axis] = total;
    return { dtype: first.dtype, shape };
  },
  evaluate(xs, a, ctx) {
    const axis = normalizeAxis(a.axis, ctx.outShape.length)!;
    const outer = sizeOf(ctx.outShape.slice(0, axis));
    const inner = sizeOf(ctx.outShape.slice(axis + 1));
    const outRow = ctx.outShape[axis]! * inner;
    const out = allocStorage(xs[0]!.dtype, sizeOf(ctx.outShape), ctx.precision);
    let offset = 0;
    for (const x of xs) {
      const row = x.shape[axis]! * inner;
      for (let o = 0; o < outer; o++) out.set(x.data.subarray(o * row, (o + 1) * row), o * outRow + offset);
      offset += row;
    }
    return { dtype: xs[0]!.dtype, shape: ctx.outShape, data: out };
  },
});

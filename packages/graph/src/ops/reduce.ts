import { z } from 'zod';
import { allocStorage, sizeOf } from '../ndarray.ts';
import { defineOp, typeRule, type OpDef } from '../op-def.ts';
import { normalizeAxis } from '../shape.ts';
import { forEachBroadcast } from './broadcast.ts';

const reduceAttrs = z.object({ axes: z.array(z.number().int()).min(1), keepDims: z.boolean().default(false) }).strict();
type ReduceAttrs = z.infer<typeof reduceAttrs>;

export type ReduceKind = 'sum' | 'mean' | 'max';

/** Axes normalized to 0..rank-1, sorted, checked for range and repeats. */
export function reduceAxes(axes: readonly number[], rank: number): number[] {
  const out = axes.map((a) => {
    const n = normalizeAxis(a, rank);
    typeRule(n !== undefined, `axis ${a} is out of range for rank ${rank}`);
    return n;
  });
  typeRule(new Set(out).size === out.length, `axes [${axes.join(', ')}] repeat an axis`);
  return out.sort((a, b) => a - b);
}

function reduceOp(kind: ReduceKind): OpDef<ReduceAttrs> {
  return defineOp({
    name: `reduce_${kind}`,
    category: 'primitive',
    summary: `${kind} over the given axes`,
    attrs: reduceAttrs,
    inputs: ['x'],
    minInputs: 1,
    infer([x], a) {
      typeRule(kind === 'max' || x!.dtype === 'f32', `reduce_${kind} needs f32, got ${x!.dtype}`);
      const axes = reduceAxes(a.axes, x!.shape.length);
      const shape = a.keepDims ? x!.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x!.shape.filter((_, i) => !axes.includes(i));
      return { dtype: x!.dtype, shape };
    },
    evaluate([x], a, ctx) {
      const axes = reduceAxes(a.axes, x!.shape.length);
      const keepShape = x!.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const size = sizeOf(keepShape);
      const acc = new Float64Array(size).fill(kind === 'max' ? -Infinity : 0);
      const src = x!.data;
      forEachBroadcast(x!.shape, [keepShape], (i, off) => {
        const o = off[0]!;
        acc[o] = kind === 'max' ? Math.max(acc[o]!, src[i]!) : acc[o]! + src[i]!;
      });
      const count = sizeOf(x!.shape) / Math.max(size, 1);
      const out = allocStorage(x!.dtype, size, ctx.precision);
      for (let i = 0; i < size; i++) out[i] = kind === 'mean' ? acc[i]! / count : acc[i]!;
      return { dtype: x!.dtype, shape: ctx.outShape, data: out };
    },
  });
}

export const reduceSum = reduceOp('sum');
export const reduceMean = reduceOp('mean');
export const reduceMax = reduceOp('max');

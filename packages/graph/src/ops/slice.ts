import { z } from 'zod';
import { allocStorage, sizeOf } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { normalizeAxis } from '../shape.ts';

/**
 * x[..., start:end:step, ...] along one axis, Python-style (negative start/end count from the end).
 * A symbolic axis is kept whole, or sliced with bounds of one sign, whose result size is static:
 * [start:end] from the front (0 <= start <= end), or [start:end] from the back (start < 0, end < 0
 * or none: x[:, -1:] is the last position). `symbolicSliceNeeds` gives the extent the axis must have
 * at run time; binding the inputs checks it (bindInputs).
 */
export const slice = defineOp({
  name: 'slice',
  category: 'primitive',
  summary: 'a strided range along one axis',
  attrs: z
    .object({ axis: z.number().int(), start: z.number().int().default(0), end: z.number().int().nullable().default(null), step: z.number().int().positive().default(1) })
    .strict(),
  inputs: ['x'],
  minInputs: 1,
  infer([x], a) {
    const axis = normalizeAxis(a.axis, x!.shape.length);
    typeRule(axis !== undefined, `axis ${a.axis} is out of range for rank ${x!.shape.length}`);
    const dim = x!.shape[axis]!;
    const shape = [...x!.shape];
    if (typeof dim === 'number') {
      const { start, end } = clampBounds(a.start, a.end, dim);
      shape[axis] = Math.max(0, Math.ceil((end - start) / a.step));
    } else if (a.start === 0 && a.end === null && a.step === 1) {
      shape[axis] = dim;
    } else {
      const needs = symbolicSliceNeeds(a);
      typeRule(needs !== undefined, `slicing symbolic axis '${dim}' needs bounds of one sign: 0 <= start <= end, or start < 0 with end < 0 or none (start <= end); got [${a.start}:${a.end ?? ''}]`);
      shape[axis] = Math.ceil(((a.end ?? 0) - a.start) / a.step);
    }
    return { dtype: x!.dtype, shape };
  },
  evaluate([x], a, ctx) {
    const axis = normalizeAxis(a.axis, x!.shape.length)!;
    const dim = x!.shape[axis]!;
    const { start } = clampBounds(a.start, a.end, dim);
    const outer = sizeOf(x!.shape.slice(0, axis));
    const inner = sizeOf(x!.shape.slice(axis + 1));
    const n = ctx.outShape[axis]!;
    const out = allocStorage(x!.dtype, outer * n * inner, ctx.precision);
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < n; k++) {
        const from = (o * dim + start + k * a.step) * inner;
        out.set(x!.data.subarray(from, from + inner), (o * n + k) * inner);
      }
    }
    return { dtype: x!.dtype, shape: ctx.outShape, data: out };
  },
});

function clampBounds(start: number, end: number | null, dim: number): { start: number; end: number } {
  const norm = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
  return { start: norm(start), end: end === null ? dim : norm(end) };
}

/**
 * The least extent a symbolic axis sliced with these bounds must have at run time (end for a slice
 * from the front, -start for one from the back); undefined when the result size would depend on it.
 */
export function symbolicSliceNeeds(a: { start: number; end: number | null; step: number }): number | undefined {
  if (a.start >= 0 && a.end !== null && a.end >= a.start) return a.end;
  if (a.start < 0 && (a.end === null || (a.end < 0 && a.end >= a.start))) return -a.start;
  return undefined;
}

import { z } from 'zod';
import { allocStorage, sizeOf } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { normalizeAxis } from '../shape.ts';

/** Numerically stable softmax along one axis. A primitive that also knows its decomposition. */
export const softmax = defineOp({
  name: 'softmax',
  category: 'primitive',
  summary: 'exp(x - max) / sum(exp(x - max)) along an axis',
  attrs: z.object({ axis: z.number().int().default(-1) }).strict(),
  inputs: ['x'],
  minInputs: 1,
  infer([x], a) {
    typeRule(x!.dtype === 'f32', `needs f32, got ${x!.dtype}`);
    typeRule(normalizeAxis(a.axis, x!.shape.length) !== undefined, `axis ${a.axis} is out of range for rank ${x!.shape.length}`);
    return x!;
  },
  evaluate([x], a, ctx) {
    const shape = ctx.outShape;
    const axis = normalizeAxis(a.axis, shape.length)!;
    const n = shape[axis]!;
    const inner = sizeOf(shape.slice(axis + 1));
    const outer = sizeOf(shape.slice(0, axis));
    const src = x!.data;
    const out = allocStorage('f32', src.length, ctx.precision);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * n * inner + i;
        let max = -Infinity;
        for (let k = 0; k < n; k++) max = Math.max(max, src[base + k * inner]!);
        let sum = 0;
        for (let k = 0; k < n; k++) sum += Math.exp(src[base + k * inner]! - max);
        for (let k = 0; k < n; k++) out[base + k * inner] = Math.exp(src[base + k * inner]! - max) / sum;
      }
    }
    return { dtype: 'f32', shape, data: out };
  },
  decompose(b, [x], a) {
    const max = b.add('reduce_max', [x!], { axes: [a.axis], keepDims: true });
    const e = b.add('exp', [b.add('sub', [x!, max])]);
    const sum = b.add('reduce_sum', [e], { axes: [a.axis], keepDims: true });
    return b.add('div', [e, sum]);
  },
});

import { z } from 'zod';
import { allocStorage } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { dimEquals } from '../shape.ts';

/**
 * RMSNorm over the last axis (Llama, Mistral, Qwen2, Gemma): x / sqrt(mean(x^2) + eps) * scale,
 * where scale = weight + weightOffset (Gemma stores w and multiplies by 1 + w: weightOffset 1).
 * A primitive, like layer_norm: each compiled backend runs it as one kernel; the decomposition
 * states its meaning and serves backends or passes that want primitives only.
 */
export const rmsNorm = defineOp({
  name: 'rms_norm',
  category: 'primitive',
  summary: 'x * rsqrt(mean(x^2) + eps) * (weight + offset) over the last axis',
  attrs: z.object({ eps: z.number().positive().default(1e-6), weightOffset: z.number().default(0) }).strict(),
  inputs: ['x', 'weight'],
  minInputs: 2,
  infer([x, weight]) {
    typeRule(x!.dtype === 'f32' && weight!.dtype === 'f32', 'needs f32 inputs');
    const d = x!.shape[x!.shape.length - 1];
    typeRule(d !== undefined, 'x needs rank >= 1');
    typeRule(weight!.shape.length === 1 && dimEquals(weight!.shape[0]!, d), `weight must have shape [${d}] (the last axis of x)`);
    return x!;
  },
  evaluate([x, weight], a, ctx) {
    const src = x!.data;
    const d = ctx.outShape[ctx.outShape.length - 1]!;
    const out = allocStorage('f32', src.length, ctx.precision);
    for (let base = 0; base < src.length; base += d) {
      let squares = 0;
      for (let i = 0; i < d; i++) squares += src[base + i]! * src[base + i]!;
      const inv = 1 / Math.sqrt(squares / d + a.eps);
      for (let i = 0; i < d; i++) out[base + i] = src[base + i]! * inv * (weight!.data[i]! + a.weightOffset);
    }
    return { dtype: 'f32', shape: ctx.outShape, data: out };
  },
  decompose(b, [x, weight], a) {
    const meanSquare = b.add('reduce_mean', [b.add('mul', [x!, x!])], { axes: [-1], keepDims: true });
    const inv = b.add('rsqrt', [b.add('add', [meanSquare, b.constant(a.eps)])]);
    const scale = a.weightOffset === 0 ? weight! : b.add('add', [weight!, b.constant(a.weightOffset)]);
    return b.add('mul', [b.add('mul', [x!, inv]), scale]);
  },
});

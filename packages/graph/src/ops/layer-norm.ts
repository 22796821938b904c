import { z } from 'zod';
import { allocStorage } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { dimEquals } from '../shape.ts';

/** Layer normalization over the last axis with a learned scale (gamma) and shift (beta). */
export const layerNorm = defineOp({
  name: 'layer_norm',
  category: 'primitive',
  summary: '(x - mean) / sqrt(var + eps) * gamma + beta over the last axis',
  attrs: z.object({ eps: z.number().positive().default(1e-5) }).strict(),
  inputs: ['x', 'gamma', 'beta'],
  minInputs: 3,
  infer([x, gamma, beta]) {
    typeRule([x, gamma, beta].every((t) => t!.dtype === 'f32'), 'needs f32 inputs');
    const d = x!.shape[x!.shape.length - 1];
    typeRule(d !== undefined, 'x needs rank >= 1');
    for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
      typeRule(t!.shape.length === 1 && dimEquals(t!.shape[0]!, d), `${name} must have shape [${d}] (the last axis of x)`);
    }
    return x!;
  },
  evaluate([x, gamma, beta], a, ctx) {
    const src = x!.data;
    const d = ctx.outShape[ctx.outShape.length - 1]!;
    const out = allocStorage('f32', src.length, ctx.precision);
    for (let base = 0; base < src.length; base += d) {
      let mean = 0;
      for (let i = 0; i < d; i++) mean += src[base + i]!;
      mean /= d;
      let variance = 0;
      for (let i = 0; i < d; i++) variance += (src[base + i]! - mean) ** 2;
      variance /= d;
      const inv = 1 / Math.sqrt(variance + a.eps);
      for (let i = 0; i < d; i++) out[base + i] = (src[base + i]! - mean) * inv * gamma!.data[i]! + beta!.data[i]!;
    }
    return { dtype: 'f32', shape: ctx.outShape, data: out };
  },
  decompose(b, [x, gamma, beta], a) {
    const mean = b.add('reduce_mean', [x!], { axes: [-1], keepDims: true });
    const centered = b.add('sub', [x!, mean]);
    const variance = b.add('reduce_mean', [b.add('mul', [centered, centered])], { axes: [-1], keepDims: true });
    const inv = b.add('rsqrt', [b.add('add', [variance, b.constant(a.eps)])]);
    return b.add('add', [b.add('mul', [b.add('mul', [centered, inv]), gamma!]), beta!]);
  },
});

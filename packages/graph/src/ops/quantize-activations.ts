import { z } from 'zod';
import { allocStorage, sizeOf } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { formatShape } from '../shape.ts';
import { roundActivations } from '../quant/activation-quantization.ts';

/**
 * x rounded to 8-bit integers per group of `group` values along its last axis (symmetric, a scale per
 * group: quant/activation-quantization.ts), returned as the floats they stand for. What a product
 * with int8 activations multiplies (quantized_matmul's `activations: 'int8'`): a kernel may multiply
 * the integers and scale once per group, and compute the same function.
 */
export const quantizeActivations = defineOp({
  name: 'quantize_activations',
  category: 'primitive',
  summary: 'x rounded to int8 per group along the last axis (symmetric, one scale a group)',
  attrs: z.object({ group: z.number().int().min(1) }).strict(),
  inputs: ['x'],
  minInputs: 1,
  infer([x]) {
    typeRule(x!.dtype === 'f32' && x!.shape.length >= 1, `x must be f32 of rank >= 1, got ${x!.dtype} ${formatShape(x!.shape)}`);
    return { dtype: 'f32', shape: x!.shape };
  },
  evaluate([x], a, ctx) {
    const k = x!.shape[x!.shape.length - 1]!;
    const out = allocStorage('f32', sizeOf(ctx.outShape), ctx.precision);
    roundActivations(x!.data, out, k, a.group);
    return { dtype: 'f32', shape: ctx.outShape, data: out };
  },
});

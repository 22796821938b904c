import { z } from 'zod';
import { InputError } from '../errors.ts';
import { allocStorage } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { dimEquals, formatShape } from '../shape.ts';
import type { TensorType } from '../tensor-type.ts';
import { codesPerWord, dequantizeInto } from '../quant/weight-quantization.ts';

export const quantizationAttrs = {
  bits: z.union([z.literal(8), z.literal(4)]),
  /** Weights along K sharing a scale (and zero point). */
  group: z.number().int().min(1),
  /** Whether the zero points are an input (else 2^(bits-1), symmetric codes). */
  zeroPoints: z.boolean().default(false),
};

/** Checks codes [N, words], scales [N, groups] and zero points (when given) for a K of `k`; returns N. */
export function checkQuantizedOperands(codes: TensorType, scales: TensorType, zeroPoints: TensorType | undefined, k: TensorType['shape'][number], a: { bits: 8 | 4; group: number }): TensorType['shape'][number] {
  typeRule(codes.dtype === 'i32' && codes.shape.length === 2, `codes must be i32 [N, words], got ${codes.dtype} ${formatShape(codes.shape)}`);
  typeRule(scales.dtype === 'f32' && scales.shape.length === 2, `scales must be f32 [N, groups], got ${scales.dtype} ${formatShape(scales.shape)}`);
  const n = codes.shape[0]!;
  typeRule(dimEquals(scales.shape[0]!, n), `codes ${formatShape(codes.shape)} and scales ${formatShape(scales.shape)} hold different column counts`);
  if (typeof k === 'number') {
    const words = Math.ceil(k / codesPerWord(a.bits));
    const groups = Math.ceil(k / a.group);
    typeRule(dimEquals(codes.shape[1]!, words), `K = ${k} at ${a.bits} bits needs ${words} code words per column, got codes ${formatShape(codes.shape)}`);
    typeRule(dimEquals(scales.shape[1]!, groups), `K = ${k} in groups of ${a.group} needs ${groups} scales per column, got scales ${formatShape(scales.shape)}`);
  }
  if (zeroPoints) typeRule(zeroPoints.dtype === 'f32' && zeroPoints.shape.length === 2 && zeroPoints.shape.every((d, i) => dimEquals(d, scales.shape[i]!)), `zero points must be f32 shaped like the scales ${formatShape(scales.shape)}, got ${zeroPoints.dtype} ${formatShape(zeroPoints.shape)}`);
  return n;
}

/** Whether w is a code word: an integer in [0, 2^24) (higher bits would be lost on WebGL and mean nothing elsewhere). */
export const isCodeWord = (w: number): boolean => Number.isInteger(w) && w >= 0 && w < 2 ** 24;

/** Rejects code words outside [0, 2^24). */
export function checkCodeWords(op: string, codes: ArrayLike<number>): void {
  for (let i = 0; i < codes.length; i++) {
    const w = codes[i]!;
    if (!isCodeWord(w)) throw new InputError(`${op}: code word ${w} at position ${i} is outside [0, 2^24) (24 bits of codes a word)`);
  }
}

/**
 * The float matrix a quantized weight stands for (see quant/weight-quantization.ts):
 *   codes i32 [N, ceil(K / per)], scales f32 [N, ceil(K / group)], zero points (optional, like scales)
 *   -> [K, N] (or [N, K] with `transpose`), W[k, n] = scale * (code - zero point)
 * Kernels never materialize it inside a product (quantized_matmul reads the codes); this op is the
 * meaning the interpreter checks them against, and what any other reader of a quantized weight gets.
 */
export const dequantize = defineOp({
  name: 'dequantize',
  category: 'primitive',
  summary: 'the float matrix of a quantized weight (codes, scales, zero points)',
  attrs: z.object({ ...quantizationAttrs, k: z.number().int().min(0), transpose: z.boolean().default(false) }).strict(),
  inputs: ['codes', 'scales', 'zeroPoints'],
  minInputs: 2,
  infer([codes, scales, zeroPoints], a) {
    typeRule(a.zeroPoints === (zeroPoints !== undefined), a.zeroPoints ? 'zeroPoints: true needs a third input' : 'a third input (zero points) needs zeroPoints: true');
    const n = checkQuantizedOperands(codes!, scales!, zeroPoints, a.k, a);
    return { dtype: 'f32', shape: a.transpose ? [n, a.k] : [a.k, n] };
  },
  evaluate([codes, scales, zeroPoints], a, ctx) {
    checkCodeWords('dequantize', codes!.data);
    const n = codes!.shape[0]!;
    const out = allocStorage('f32', a.k * n, ctx.precision);
    dequantizeInto({ bits: a.bits, group: a.group, k: a.k, n, codes: codes!.data as Int32Array, scales: scales!.data as Float32Array, ...(zeroPoints ? { zeroPoints: zeroPoints.data as Float32Array } : {}) }, a.transpose, out);
    return { dtype: 'f32', shape: ctx.outShape, data: out };
  },
});



import { z } from 'zod';
import { defineOp, typeRule } from '../../op-def.ts';
import { broadcastShapes, formatShape, shapeEquals } from '../../shape.ts';
import { checkQuantizedOperands, quantizationAttrs } from '../dequantize.ts';
import { emitExpr, exprDType, exprSchema, type Expr } from './expr.ts';

/**
 * A product with a quantized weight (the q8 and q4 weight stores), and its epilogue:
 *   a [..., M, K] @ W [K, N], W = dequantize(codes, scales, zero points)   -> [..., M, N]
 * inputs: a, codes, scales, zero points (when `zeroPoints`), then the epilogue's extra inputs. The
 * kernels read the codes and widen them as they multiply; the weight is never materialized. With
 * `activations: 'int8'` the rows of a are first rounded to int8 per group (quantize_activations), so a
 * kernel may multiply integers. In the epilogue `{ in: 0 }` is the product and `{ in: k }` extra input k.
 */
export const quantizedMatmul = defineOp({
  name: 'quantized_matmul',
  category: 'fused',
  summary: 'matmul with a quantized weight (int8 / int4 codes and scales) and an optional epilogue',
  attrs: z.object({ ...quantizationAttrs, activations: z.enum(['f32', 'int8']).default('f32'), epilogue: exprSchema.default({ in: 0 }) }).strict(),
  inputs: ['a', 'codes', 'scales', 'zeroPoints or extra0'],
  minInputs: 3,
  variadic: true,
  infer(inputs, attrs) {
    const [a, codes, scales] = inputs;
    const zeroPoints = attrs.zeroPoints ? inputs[3] : undefined;
    typeRule(!attrs.zeroPoints || zeroPoints, 'zeroPoints: true needs a fourth input');
    typeRule(a!.dtype === 'f32' && a!.shape.length >= 2, `a must be f32 of rank >= 2, got ${a!.dtype} ${formatShape(a!.shape)}`);
    const k = a!.shape[a!.shape.length - 1]!;
    typeRule(typeof k === 'number', `a's K must be a static size (a weight's rows), got ${String(k)}`);
    const n = checkQuantizedOperands(codes!, scales!, zeroPoints, k, attrs);
    const product = { dtype: 'f32' as const, shape: [...a!.shape.slice(0, -1), n] };
    const extras = inputs.slice(attrs.zeroPoints ? 4 : 3);
    for (const e of extras) {
      const joined = broadcastShapes(product.shape, e.shape);
      typeRule(joined && shapeEquals(joined, product.shape), `epilogue input ${formatShape(e.shape)} must broadcast to the product ${formatShape(product.shape)}`);
    }
    const dtype = exprDType(attrs.epilogue as Expr, [product.dtype, ...extras.map((e) => e.dtype)]);
    typeRule(dtype === 'f32', 'the epilogue must produce f32');
    return product;
  },
  decompose(b, inputs, attrs) {
    const [a, codes, scales] = inputs;
    const operands = attrs.zeroPoints ? [codes!, scales!, inputs[3]!] : [codes!, scales!];
    const aType = b.typeOf(a!);
    const k = aType.shape[aType.shape.length - 1]!;
    const w = b.add('dequantize', operands, { bits: attrs.bits, group: attrs.group, zeroPoints: attrs.zeroPoints, k });
    // int8 activations: the rows of a rounded per group of the weights' group, as the kernels round them
    const x = attrs.activations === 'int8' ? b.add('quantize_activations', [a!], { group: attrs.group }) : a!;
    const product = b.add('matmul', [x, w], { transposeB: false });
    return emitExpr(b, attrs.epilogue as Expr, [product, ...inputs.slice(attrs.zeroPoints ? 4 : 3)]);
  },
});

/** Index of a quantized_matmul's first epilogue input (after a, codes, scales and the zero points). */
export const quantizedExtrasStart = (attrs: Record<string, unknown>): number => (attrs['zeroPoints'] ? 4 : 3);

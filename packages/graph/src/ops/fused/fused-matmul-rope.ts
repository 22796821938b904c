import { z } from 'zod';
import { defineOp, typeRule } from '../../op-def.ts';
import { dimEquals } from '../../shape.ts';
import { ROPE_STYLES } from '../rope.ts';
import { exprSchema, type Expr } from './expr.ts';
import { fusedMatmul } from './fused-matmul.ts';

/**
 * A q or k projection with rotary positions in its epilogue: y = epilogue(a @ b) [B, T, H * Dh],
 * then each of the H heads of Dh features rotated as `rope` does (the same theta, style and
 * fraction), at positions offset + 0..T-1. Inputs: a, b, the epilogue's extras, then the rope offset
 * (i32 [B] or [1]) when `offset` is set. One kernel where the graph had a projection, two reshapes
 * and a rope; compiled plans that want it ask for it (the cpu backend), the others keep `rope`.
 */
export const fusedMatmulRope = defineOp({
  name: 'fused_matmul_rope',
  category: 'fused',
  summary: 'matmul with a fused epilogue, then rotary positions per head',
  attrs: z
    .object({
      transposeB: z.boolean().default(false),
      epilogue: exprSchema,
      heads: z.number().int().positive(),
      theta: z.number().positive(),
      style: z.enum(ROPE_STYLES),
      fraction: z.number().gt(0).lte(1),
      offset: z.boolean(),
    })
    .strict(),
  inputs: ['a', 'b', 'extra0'],
  minInputs: 2,
  variadic: true,
  infer(inputs, a) {
    const extras = a.offset ? inputs.slice(2, -1) : inputs.slice(2);
    const product = fusedMatmul.infer([inputs[0]!, inputs[1]!, ...extras], { transposeB: a.transposeB, epilogue: a.epilogue });
    const n = product.shape[2];
    typeRule(product.shape.length === 3 && typeof n === 'number' && n % a.heads === 0 && (n / a.heads) % 2 === 0, `the product must be [B, T, heads * Dh] with an even Dh, got [${product.shape.join(', ')}] for ${a.heads} heads`);
    if (a.offset) {
      const offset = inputs.at(-1)!;
      typeRule(offset.dtype === 'i32' && offset.shape.length === 1 && (dimEquals(offset.shape[0]!, 1) || dimEquals(offset.shape[0]!, product.shape[0]!)), `offset must be i32[1] or i32[${product.shape[0]}]`);
    }
    return product;
  },
  decompose(b, inputs, a) {
    const extras = a.offset ? inputs.slice(2, -1) : inputs.slice(2);
    const product = b.add('fused_matmul', [inputs[0]!, inputs[1]!, ...extras], { transposeB: a.transposeB, epilogue: a.epilogue as Expr });
    const [batch, t, n] = b.typeOf(product).shape;
    const split = b.add('reshape', [product], { shape: [batch!, t!, a.heads, (n as number) / a.heads] });
    const rotated = b.add('rope', a.offset ? [split, inputs.at(-1)!] : [split], { theta: a.theta, style: a.style, fraction: a.fraction });
    return b.add('reshape', [rotated], { shape: [batch!, t!, n!] });
  },
});

import { shapeEquals, type Expr } from '@loom/graph';
import { pat } from '../rewrite/pattern.ts';
import { rule } from '../rewrite/rewrite-graph.ts';
import { rewritePass } from './pass.ts';

/**
 * rope(reshape(projection)) -> reshape(fused_matmul_rope): the q and k projections of a rotary
 * model (Llama, Mistral, Qwen2) split their heads for `rope`, so the rotation can run on the
 * product rows while the projection kernel still holds them. The split must only cut the last axis
 * into heads, and it and the product must have no other reader. Whatever read the rotated heads
 * reads the same values from a reshape (a view) of the fused product.
 */
const ropeIntoProjection = rule('fuse-rope-into-projection', pat.op('rope'), (_, ctx) => {
  const rope = ctx.node(ctx.root);
  const splitRef = rope.inputs[0]!;
  const split = ctx.node(splitRef);
  if (split.op !== 'reshape' || ctx.uses(splitRef) !== 1) return undefined;
  const productRef = split.inputs[0]!;
  const product = ctx.node(productRef);
  if ((product.op !== 'matmul' && product.op !== 'fused_matmul') || ctx.uses(productRef) !== 1) return undefined;
  const [shape, heads] = [product.type.shape, rope.type.shape];
  if (shape.length !== 3 || heads.length !== 4) return undefined;
  if (!shapeEquals(heads.slice(0, 2), shape.slice(0, 2)) || typeof heads[2] !== 'number' || typeof heads[3] !== 'number' || heads[2] * heads[3] !== shape[2]) return undefined;
  const extras = product.op === 'fused_matmul' ? product.inputs.slice(2) : [];
  const epilogue: Expr = product.op === 'fused_matmul' ? (product.attrs['epilogue'] as Expr) : { in: 0 };
  const offset = rope.inputs[1];
  const fused = ctx.add('fused_matmul_rope', [product.inputs[0]!, product.inputs[1]!, ...extras, ...(offset !== undefined ? [offset] : [])], {
    transposeB: Boolean(product.attrs['transposeB']),
    epilogue,
    heads: heads[2],
    theta: rope.attrs['theta'],
    style: rope.attrs['style'],
    fraction: rope.attrs['fraction'],
    offset: offset !== undefined,
  });
  return ctx.add('reshape', [fused], { shape: [...heads] });
});

export const fuseRopeIntoProjectionRules = [ropeIntoProjection];

export const fuseRopeIntoProjection = rewritePass('fuse-rope-into-projection', 'rope(reshape(matmul)) -> reshape(fused_matmul_rope)', fuseRopeIntoProjectionRules);

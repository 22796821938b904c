import { exprSize, shapeEquals } from '@loom/graph';
import { pat } from '../rewrite/pattern.ts';
import { rule } from '../rewrite/rewrite-graph.ts';
import { buildExpr, epilogueOf, isElementwise, MAX_EXPR_OPS, MAX_KERNEL_INPUTS, referencesTo } from './elementwise-expr.ts';
import { rewritePass } from './pass.ts';

/**
 * A matmul read only by one elementwise node (or fused kernel) of the same shape runs that node as
 * its epilogue: bias add, activation, residual add happen on each product element before it is
 * stored, so the product never round-trips through memory. A fused_matmul grows its epilogue the same
 * way, and so does a quantized_matmul. The epilogue must produce f32 (a comparison stays outside).
 */
const absorbEpilogue = rule('absorb-matmul-epilogue', pat.category(['elementwise', 'fused']), (_, ctx) => {
  const user = ctx.node(ctx.root);
  if (!isElementwise(user) || user.type.dtype !== 'f32') return undefined;
  const product = user.inputs.find((ref) => {
    const m = ctx.node(ref);
    if (m.op !== 'matmul' && !epilogueOf(m)) return false;
    // one reader, referred to once (a product's epilogue would be inlined per reference)
    return ctx.uses(ref) === 1 && (m.op === 'matmul' || referencesTo(user, ref) === 1) && shapeEquals(m.type.shape, user.type.shape);
  });
  if (product === undefined) return undefined;
  const m = ctx.node(product);
  const own = epilogueOf(m);
  const { expr, inputs } = buildExpr(ctx, ctx.root, new Set(own ? [product] : []), [product]);
  const extras = inputs.slice(1);
  const operands = m.inputs.slice(0, own?.extrasStart ?? 2);
  if (operands.length + extras.length > MAX_KERNEL_INPUTS || exprSize(expr) > MAX_EXPR_OPS) return undefined;
  // a quantized product keeps its op and grows its epilogue; a matmul becomes a fused_matmul
  if (m.op === 'quantized_matmul') return ctx.add('quantized_matmul', [...operands, ...extras], { ...m.attrs, epilogue: expr });
  return ctx.add('fused_matmul', [...operands, ...extras], { transposeB: m.attrs['transposeB'], epilogue: expr });
});

export const fuseMatmulEpilogueRules = [absorbEpilogue];

export const fuseMatmulEpilogue = rewritePass(
  'fuse-matmul-epilogue',
  'run the elementwise user of a matmul as its epilogue (fused_matmul)',
  fuseMatmulEpilogueRules,
);

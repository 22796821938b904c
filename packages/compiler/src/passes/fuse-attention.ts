import { normalizeAxis, shapeEquals, type NodeRef } from '@loom/graph';
import { pat, uniformValue } from '../rewrite/pattern.ts';
import { rule, type RewriteContext } from '../rewrite/rewrite-graph.ts';
import { rewritePass } from './pass.ts';

/**
 * Scaled dot-product attention as the attention composite (and most hand-written models) decompose it:
 *
 *   scores = matmul(q, k, transposeB)          (..., Tq, Tk)
 *   scaled = scores * c                        optional; c a filled constant
 *   masked = scaled + mask                     optional; mask broadcasts to the scores
 *   out    = matmul(softmax(masked, -1), v)    (..., Tq, Dv)
 *
 * becomes one fused_attention(q, k, v[, mask]) {scale: c or 1}, whose kernel never stores the Tq x Tk
 * scores. Every intermediate must be read only by the next step (else it is needed anyway), and k's
 * and v's leading axes must each be q's or 1 (grouped-query attention's kv heads, broadcast over
 * their group; fused_attention broadcasts them but never widens q).
 */
const scores = pat.op('matmul', [pat.var('q'), pat.var('k')], { attrs: { transposeB: true }, maxUses: 1, capture: 'scores' });
const scaled = pat.oneOf(pat.op('mul', [scores, pat.constant(undefined, 'scale')], { commutative: true, maxUses: 1, capture: 'scaled' }), scores);
const masked = pat.oneOf(pat.op('add', [scaled, pat.var('mask')], { commutative: true, maxUses: 1, capture: 'masked' }), scaled);
const attentionPattern = pat.op('matmul', [pat.op('softmax', [masked], { maxUses: 1, capture: 'probs' }), pat.var('v')], {
  attrs: { transposeB: false },
});

/** `outer` = `inner` op something, with `inner`'s shape: the something broadcast into it. */
function keepsShape(ctx: RewriteContext, outer: NodeRef | undefined, inner: NodeRef): boolean {
  return outer === undefined || shapeEquals(ctx.typeOf(outer).shape, ctx.typeOf(inner).shape);
}

const fuseScaledDotProduct = rule('fuse-scaled-dot-product-attention', attentionPattern, (m, ctx) => {
  const probs = ctx.node(m.probs);
  const rank = probs.type.shape.length;
  if (normalizeAxis(probs.attrs['axis'] as number, rank) !== rank - 1) return undefined;
  // the scale and the mask must not reshape the scores (a mask of higher rank would)
  if (!keepsShape(ctx, m.scaled, m.scores) || !keepsShape(ctx, m.masked, m.scores)) return undefined;
  if (m.mask !== undefined && ctx.typeOf(m.mask).dtype !== 'f32') return undefined;
  const [q, k, v] = [ctx.typeOf(m.q), ctx.typeOf(m.k), ctx.typeOf(m.v)];
  if (q.shape.length !== rank || k.shape.length !== rank || v.shape.length !== rank) return undefined;
  const lead = q.shape.slice(0, -2);
  const broadcasts = (shape: readonly (string | number)[]) => shape.slice(0, -2).every((d, i) => d === 1 || d === lead[i]);
  if (!broadcasts(k.shape) || !broadcasts(v.shape)) return undefined;
  const scale = m.scale === undefined ? 1 : uniformValue(ctx.node(m.scale))!;
  const inputs = m.mask === undefined ? [m.q, m.k, m.v] : [m.q, m.k, m.v, m.mask];
  return ctx.add('fused_attention', inputs, { scale });
});

export const fuseAttentionRules = [fuseScaledDotProduct];

export const fuseAttention = rewritePass(
  'fuse-attention',
  'matmul(softmax(q k^T * scale + mask), v) -> fused_attention',
  fuseAttentionRules,
);

import { shapeEquals } from '@loom/graph';
import { pat } from '../rewrite/pattern.ts';
import { rule } from '../rewrite/rewrite-graph.ts';
import { rewritePass } from './pass.ts';

/**
 * layer_norm(x + residual) where only the layer norm reads the sum: one kernel reads both rows, adds
 * and normalizes (the post-norm "Add & Norm"). Pre-norm models keep the sum (the residual stream
 * reads it again), so nothing changes there. x and residual must have the same shape (no broadcast).
 */
const fuseAddNorm = rule(
  'fuse-add-layer-norm',
  pat.op('layer_norm', [pat.op('add', [pat.var('x'), pat.var('residual')], { maxUses: 1 }), pat.var('gamma'), pat.var('beta')]),
  ({ x, residual, gamma, beta }, ctx) => {
    const [tx, tr] = [ctx.typeOf(x), ctx.typeOf(residual)];
    if (!shapeEquals(tx.shape, tr.shape) || tx.dtype !== 'f32') return undefined;
    return ctx.add('fused_add_layer_norm', [x, residual, gamma, beta], { eps: ctx.node(ctx.root).attrs['eps'] });
  },
);

export const fuseAddLayerNormRules = [fuseAddNorm];

export const fuseAddLayerNorm = rewritePass('fuse-add-layer-norm', 'layer_norm(add(x, r)) -> fused_add_layer_norm', fuseAddLayerNormRules);

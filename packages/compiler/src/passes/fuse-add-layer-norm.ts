import { shapeEquals } from '@loom/graph';
import { pat } from '../rewrite/pattern.ts';
import { rule } from '../rewrite/rewrite-graph.ts';
import { rewritePass } from './pass.ts';

/**
 * layer_norm(x + residual) where only the layer norm reads the sum: one kernel reads both rows, adds
 * and normalizes (the post-norm "Add & Norm"). Pre-norm models keep the sum (the residual stream
 * reads it again), so nothing changes there: their residual adds ride in the GEMM epilogues
 * instead. x and residual must have the same shape (no broadcast).
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

/** The same for RMSNorm: rms_norm(x + residual) where only the norm reads the sum. */
const fuseAddRmsNorm = rule(
  'fuse-add-rms-norm',
  pat.op('rms_norm', [pat.op('add', [pat.var('x'), pat.var('residual')], { maxUses: 1 }), pat.var('weight')]),
  ({ x, residual, weight }, ctx) => {
    const [tx, tr] = [ctx.typeOf(x), ctx.typeOf(residual)];
    if (!shapeEquals(tx.shape, tr.shape) || tx.dtype !== 'f32') return undefined;
    const { eps, weightOffset } = ctx.node(ctx.root).attrs;
    return ctx.add('fused_add_rms_norm', [x, residual, weight], { eps, weightOffset });
  },
);

export const fuseAddLayerNormRules = [fuseAddNorm, fuseAddRmsNorm];

export const fuseAddLayerNorm = rewritePass('fuse-add-layer-norm', 'layer_norm / rms_norm (add(x, r)) -> fused_add_layer_norm / fused_add_rms_norm', fuseAddLayerNormRules);

import { exprSize } from '@loom/graph';
import { pat } from '../rewrite/pattern.ts';
import { rule } from '../rewrite/rewrite-graph.ts';
import { absorbInto, isElementwise, ownExpr } from './elementwise-expr.ts';
import { rewritePass } from './pass.ts';

/**
 * Most ops a producer may hold to be computed again inside each kernel that reads it (below): a
 * cast, a comparison, a scale, a sin or cos of a position table.
 */
export const RECOMPUTED_MOST_OPS = 8;

/**
 * The GPU backends' second elementwise fusion: an elementwise kernel also absorbs the cheap
 * elementwise producers that fuse-elementwise leaves as kernels of their own because nothing may be
 * recomputed there: a producer read by several nodes (each reader computes it again), read twice by
 * one expression, or read broadcast to a larger shape (computed once per output element instead of
 * once per own element; elementwise ops commute with broadcasting, so the kernel reads the
 * producer's inputs broadcast instead). On a GPU a few ops more per element cost less than a kernel
 * that writes them to memory, a read of them back, and, on WebGL, a shader to compile. The cpu keeps
 * fuse-elementwise's rule, where a kernel's elements are work its threads share.
 *
 * A producer is absorbed only when its own expression holds at most RECOMPUTED_MOST_OPS ops, and
 * the kernel stays within MAX_KERNEL_INPUTS inputs and MAX_EXPR_OPS ops. A producer other nodes
 * still read stays a kernel for them.
 */
const absorbCheapProducers = rule('absorb-cheap-elementwise-producers', pat.category(['elementwise', 'fused']), (_, ctx) => {
  const root = ctx.node(ctx.root);
  if (!isElementwise(root)) return undefined;
  const candidates = [...new Set(root.inputs)].filter((ref) => {
    const p = ctx.node(ref);
    return isElementwise(p) && exprSize(ownExpr(p)) <= RECOMPUTED_MOST_OPS;
  });
  return absorbInto(ctx, candidates);
});

export const fuseCheapProducersRules = [absorbCheapProducers];

export const fuseCheapProducers = rewritePass(
  'fuse-cheap-producers',
  'GPU backends: elementwise kernels recompute the cheap elementwise producers they read (read twice, by several nodes, or broadcast)',
  fuseCheapProducersRules,
);

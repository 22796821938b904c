import { exprSize, type Graph, type NodeRef } from '@loom/graph';
import { pat } from '../rewrite/pattern.ts';
import { rewriteGraph, rule, type Rule } from '../rewrite/rewrite-graph.ts';
import { absorbInto, isElementwise, ownExpr } from './elementwise-expr.ts';
import { definePass } from './pass.ts';

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
 * A producer is absorbed only when its own expression holds at most RECOMPUTED_MOST_OPS ops, the
 * kernel stays within MAX_KERNEL_INPUTS inputs and MAX_EXPR_OPS ops, and absorbing it can save its
 * kernel: not when a node that is not elementwise reads it too, unless the root is its one reader.
 */
export const fuseCheapProducers = definePass(
  'fuse-cheap-producers',
  'GPU backends: elementwise kernels recompute the cheap elementwise producers they read (read twice, by several nodes, or broadcast)',
  (graph) => rewriteGraph(graph, fuseCheapProducersRules(graph)),
);

/**
 * The pass's rule for `graph`. A producer that a node other than an elementwise one reads (a
 * product, a reduction, a reshape) or that is an output stays a kernel whatever its elementwise
 * readers do, so those readers computing it again would save no kernel: it is offered only to a
 * reader that is its only one. Readers change during the rewrite only by becoming fused kernels, so
 * the set is kept by passing it from each rewritten node to the node that replaces it.
 */
export function fuseCheapProducersRules(graph: Graph): Rule[] {
  const keptAnyway = new Set<NodeRef>(graph.outputs.map((o) => o.node));
  for (const n of graph.nodes) if (!isElementwise(n)) for (const i of n.inputs) keptAnyway.add(i);
  const absorbCheapProducers = rule('absorb-cheap-elementwise-producers', pat.category(['elementwise', 'fused']), (_, ctx) => {
    const root = ctx.node(ctx.root);
    if (!isElementwise(root)) return undefined;
    const candidates = [...new Set(root.inputs)].filter((ref) => {
      const p = ctx.node(ref);
      if (!isElementwise(p) || exprSize(ownExpr(p)) > RECOMPUTED_MOST_OPS) return false;
      return ctx.uses(ref) === 1 || !keptAnyway.has(ref);
    });
    const fused = absorbInto(ctx, candidates);
    if (fused !== undefined && keptAnyway.has(ctx.root)) keptAnyway.add(fused);
    return fused;
  });
  return [absorbCheapProducers];
}

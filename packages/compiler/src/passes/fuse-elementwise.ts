import { shapeEquals } from '@loom/graph';
import { pat } from '../rewrite/pattern.ts';
import { rule } from '../rewrite/rewrite-graph.ts';
import { absorbInto, isElementwise, referencesTo } from './elementwise-expr.ts';
import { rewritePass } from './pass.ts';

/**
 * An elementwise node (or fused kernel) absorbs each elementwise producer that only it reads and that
 * has its output shape, into one `fused_elementwise` whose expression reads the chain's external
 * inputs; filled constants become literals. Inputs-first sweeps make producers maximal before their
 * consumer absorbs them, so a chain ends as one kernel, up to MAX_EXPR_OPS ops (a longer one as several).
 *
 * Nothing is recomputed: a producer read twice (by two nodes, or twice by one expression), or read
 * broadcast to a larger shape (which would evaluate it once per output element instead of once per
 * own element), stays a kernel of its own.
 * A kernel reads at most MAX_KERNEL_INPUTS inputs and holds at most MAX_EXPR_OPS ops. A lone elementwise op stays a primitive.
 */
const absorbProducers = rule('absorb-elementwise-producers', pat.category(['elementwise', 'fused']), (_, ctx) => {
  const root = ctx.node(ctx.root);
  if (!isElementwise(root)) return undefined;
  const candidates = [...new Set(root.inputs)].filter((ref) => {
    const p = ctx.node(ref);
    return isElementwise(p) && ctx.uses(ref) === 1 && referencesTo(root, ref) === 1 && shapeEquals(p.type.shape, root.type.shape);
  });
  return absorbInto(ctx, candidates);
});

export const fuseElementwiseRules = [absorbProducers];

export const fuseElementwise = rewritePass(
  'fuse-elementwise',
  'fuse chains of elementwise ops into fused_elementwise kernels',
  fuseElementwiseRules,
);

import { expandOps, type ExpandPredicate } from '@loom/graph';
import { definePass, type Pass } from './pass.ts';

const isComposite: ExpandPredicate = (def) => def.category === 'composite';

/**
 * Replaces model-level ops (linear, attention, ffn, add_norm, masks, position encodings, embed) by
 * their decompositions into primitives, recursively; each emitted node keeps the composite's source
 * line. Later passes then see one primitive graph and re-fuse it where it pays (attention, epilogues).
 * `shouldExpand` picks other ops to expand (e.g. fused ops, to undo fusion).
 */
export function decomposeOps(shouldExpand: ExpandPredicate = isComposite): Pass {
  return definePass('decompose-composites', 'expand composite ops into primitives', (graph) => expandOps(graph, shouldExpand));
}

export const decomposeComposites = decomposeOps();

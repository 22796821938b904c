import { nodeName, type Graph, type GraphNode } from '@loom/graph';

/**
 * Activation recomputation ("gradient checkpointing", per block): the backward pass of a block
 * does not read the forward values computed inside it; it computes them again from the block's
 * inputs, just before it needs them. Only what enters a block (the residual stream between blocks)
 * stays alive from the forward pass to the backward one, so the activations held at once shrink
 * from every block's to one block's, for about one more forward pass of compute.
 */

/** Which block a parameter belongs to, by its name; undefined: none (embeddings, final norm, head). */
export type BlockOfParam = (name: string) => string | undefined;

/**
 * The block of Loom's model families and of most checkpoints: the name up to the layer number,
 * `h.3` (GPT-2), `layers.3` (Llama), `encoder.layers.3` / `decoder.layers.3` (the Transformer),
 * `blocks.3`.
 */
export const layerBlockOf: BlockOfParam = (name) => /^(.*?(?:^|\.)(?:h|layers|blocks?)\.\d+)\./.exec(name)?.[1];

/**
 * The mark on a recomputed node's source line. Common-subexpression elimination leaves marked nodes
 * alone: merging a copy with its original would keep the activation alive and undo the recompute.
 */
export const RECOMPUTED_MARK = ' [recomputed]';

export const isRecomputed = (node: { readonly source?: string | undefined }): boolean => node.source?.endsWith(RECOMPUTED_MARK) === true;

/**
 * Each node's block: a node that reads a parameter takes that parameter's block (none if the
 * parameter has none: the final norm, the head); a node that reads no parameter takes the block of
 * its latest input (attention scores, a softmax, a residual add). Sources (inputs, params,
 * constants) are in no block: they are kept, never recomputed.
 */
export function blocksOf(graph: Graph, blockOf: BlockOfParam): (string | undefined)[] {
  const block: (string | undefined)[] = [];
  for (const node of graph.nodes) {
    if (isSource(node)) continue;
    const params = node.inputs.map((i) => graph.nodes[i]!).filter((n) => n.op === 'param');
    if (params.length > 0) block[node.id] = blockOf(nodeName(params[params.length - 1]!)!);
    else {
      const latest = Math.max(-1, ...node.inputs.filter((i) => !isSource(graph.nodes[i]!)));
      block[node.id] = latest < 0 ? undefined : block[latest];
    }
  }
  return block;
}

function isSource(node: GraphNode): boolean {
  return node.op === 'input' || node.op === 'param' || node.op === 'constant';
}

/**
 * The layers of a graph, as the graph view folds them: every node that reads a parameter named
 * under a numbered layer (`h.0.attn.c_attn.weight` -> `h.0`, `encoder.layers.1.self_attn...` ->
 * `encoder.layers.1`, `model.layers.3...` -> `model.layers.3`) belongs to that layer; a node that
 * reads no parameter (a residual add, a reshape) belongs to the layer of its latest input that has
 * one. A node that reads a parameter outside every layer (the embeddings, the final norm, the output
 * projection) belongs to none, and so do nodes built only from the inputs (the masks).
 */
import type { Graph } from '@loom/graph';

/** The numbered layer a parameter's name sits under, if any: the name up to its first part that is a number. */
export function layerOfParam(name: string): string | undefined {
  const m = /^(.*?\.\d+)\./.exec(name);
  return m?.[1];
}

/** Each node's layer (by node id), undefined outside every layer. */
export function layerBlocks(graph: Graph): (string | undefined)[] {
  const layer: (string | undefined)[] = [];
  for (const node of graph.nodes) {
    if (node.op === 'param' || node.op === 'constant' || node.op === 'input') continue;
    const params = node.inputs.map((i) => graph.nodes[i]!).filter((i) => i.op === 'param');
    if (params.length > 0) {
      layer[node.id] = params.map((p) => layerOfParam(String(p.attrs['name']))).find((l) => l !== undefined);
      continue;
    }
    // no parameter: the layer of the latest input that has one (a block's residual add follows its projection)
    const inputs = [...node.inputs].sort((a, b) => b - a);
    layer[node.id] = inputs.map((i) => layer[i]).find((l) => l !== undefined);
  }
  return layer;
}

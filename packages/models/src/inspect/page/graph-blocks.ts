/**
 * The layers of a graph, as the graph view folds them: every node that reads a parameter named
 * under a numbered layer (`h.0.attn.c_attn.weight` -> `h.0`, `encoder.layers.1.self_attn...` ->
 * `encoder.layers.1`, `model.layers.3...` -> `model.layers.3`) belongs to that layer. A node that
 * reads no parameter goes with the parameters next to it: the layer of its latest input that reads
 * some (a residual add follows its projection); else, when everything it leads to before the next
 * parameter is in one layer, that layer (the mean and centring of a layer norm decomposed at the
 * start of the next layer); else the layer of its latest input. A node that reads a parameter
 * outside every layer (the embeddings, the final norm, the output projection) belongs to none, and
 * so do nodes built only from the inputs that every layer reads (the masks).
 */
import type { Graph, GraphNode } from '@loom/graph';

/** The numbered layer a parameter's name sits under, if any: the name up to its first part that is a number. */
export function layerOfParam(name: string): string | undefined {
  const m = /^(.*?\.\d+)\./.exec(name);
  return m?.[1];
}

/** Layers below a node: none, one, or several (MIXED). */
const MIXED = Symbol('several layers');
type Below = string | undefined | typeof MIXED;

/** Each node's layer (by node id), undefined outside every layer. */
export function layerBlocks(graph: Graph): (string | undefined)[] {
  const nodes = graph.nodes;
  const params = (n: GraphNode) => n.inputs.map((i) => nodes[i]!).filter((i) => i.op === 'param');
  const readsParams = nodes.map((n) => params(n).length > 0);
  const own = nodes.map((n) => params(n).map((p) => layerOfParam(String(p.attrs['name']))).find((l) => l !== undefined));
  const skip = (n: GraphNode) => n.op === 'param' || n.op === 'constant' || n.op === 'input';
  // the layers of the nearest parameter-reading nodes each node leads to (nodes are in topological order)
  const below: Below[] = nodes.map(() => undefined);
  const merge = (a: Below, b: Below): Below => (a === undefined ? b : b === undefined || a === b ? a : MIXED);
  for (let id = nodes.length - 1; id >= 0; id--) {
    const n = nodes[id]!;
    if (skip(n)) continue;
    const here: Below = readsParams[id] ? (own[id] ?? MIXED) : below[id];
    for (const i of new Set(n.inputs)) below[i] = merge(below[i], here);
  }
  const layer: (string | undefined)[] = [];
  for (const node of nodes) {
    if (skip(node)) continue;
    if (readsParams[node.id]) {
      layer[node.id] = own[node.id];
      continue;
    }
    const inputs = [...new Set(node.inputs)].sort((a, b) => b - a);
    const fromParams = inputs.find((i) => readsParams[i]);
    const downstream = below[node.id];
    if (fromParams !== undefined) layer[node.id] = layer[fromParams];
    else if (typeof downstream === 'string') layer[node.id] = downstream;
    else layer[node.id] = inputs.map((i) => layer[i]).find((l) => l !== undefined);
  }
  return layer;
}

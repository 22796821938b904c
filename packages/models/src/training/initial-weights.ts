import { graphParams, mulberry32, nodeName, type Graph, type NDArray } from '@loom/graph';

/**
 * Weights to train from: matrices Xavier-uniform (Glorot and Bengio, 2010: U(-a, a), a = sqrt(6 /
 * (fan_in + fan_out)), as PyTorch's Transformer tutorials initialize every parameter of rank 2),
 * the scales of layer norms and RMSNorms 1 (0 where the graph adds 1 itself, Gemma's offset), every
 * other vector 0. The scales are found by how the graph uses them, not by their names.
 */
export function initialWeights(graph: Graph, seed: number): Map<string, NDArray> {
  const random = mulberry32(seed);
  const scales = normScales(graph);
  const weights = new Map<string, NDArray>();
  for (const node of graphParams(graph)) {
    if (node.type.dtype !== 'f32') continue;
    const name = nodeName(node)!;
    const shape = node.type.shape.map(Number);
    const size = shape.reduce((p, d) => p * d, 1);
    const data = new Float32Array(size);
    if (shape.length >= 2) {
      const [fanIn, fanOut] = [shape[shape.length - 2]!, shape[shape.length - 1]!];
      const a = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < size; i++) data[i] = (random() * 2 - 1) * a;
    } else if (scales.has(name)) data.fill(scales.get(name)!);
    weights.set(name, { dtype: 'f32', shape, data });
  }
  return weights;
}

/** Parameters that scale a normalization, with the value that makes it the identity. */
function normScales(graph: Graph): Map<string, number> {
  const scales = new Map<string, number>();
  const mark = (id: number, value: number) => {
    const n = graph.nodes[id]!;
    if (n.op === 'param') scales.set(nodeName(n)!, value);
  };
  for (const n of graph.nodes) {
    if (n.op === 'layer_norm') mark(n.inputs[1]!, 1);
    if (n.op === 'add_norm' || n.op === 'fused_add_layer_norm') mark(n.inputs[2]!, 1);
    if (n.op === 'rms_norm') mark(n.inputs[1]!, 1 - Number(n.attrs['weightOffset'] ?? 0));
    if (n.op === 'fused_add_rms_norm') mark(n.inputs[2]!, 1 - Number(n.attrs['weightOffset'] ?? 0));
  }
  return scales;
}

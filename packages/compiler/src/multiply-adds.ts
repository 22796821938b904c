import { resolveShape, sizeOf, type DimBindings, type Graph, type GraphNode } from '@loom/graph';

/**
 * The multiply-adds a graph's products do at the given sizes: matmul (and its fused forms), the
 * experts' products (each row times its own expert's matrix: rows x K x N, whatever the number of
 * experts) and attention's two products. Elementwise work is not counted. Benchmarks divide by time
 * for GFLOP/s; tests use it to show what a mixture of experts costs.
 */
export function multiplyAdds(graph: Graph, bindings: DimBindings = new Map()): number {
  let total = 0;
  for (const node of graph.nodes) total += nodeMultiplyAdds(graph, node, bindings);
  return total;
}

function nodeMultiplyAdds(graph: Graph, node: GraphNode, bindings: DimBindings): number {
  const shape = (i: number) => resolveShape(graph.nodes[node.inputs[i]!]!.type.shape, bindings);
  const out = resolveShape(node.type.shape, bindings);
  switch (node.op) {
    case 'matmul':
    case 'fused_matmul':
    case 'fused_matmul_rope':
    case 'quantized_matmul': {
      const a = shape(0);
      return sizeOf(out) * a[a.length - 1]!; // each output element is a K-long dot product
    }
    case 'expert_matmul': {
      const w = shape(1);
      const [k, n] = node.attrs['transposeB'] ? [w[2]!, w[1]!] : [w[1]!, w[2]!];
      return sizeOf(shape(2)) * k * n; // each id's row times its expert's K x N
    }
    case 'fused_attention': {
      const [q, k] = [shape(0), shape(1)];
      const scores = sizeOf(q.slice(0, -1)) * k[k.length - 2]!; // batches x Tq x Tk
      return scores * (q[q.length - 1]! + out[out.length - 1]!); // q.k, then weights x v
    }
    default:
      return 0;
  }
}

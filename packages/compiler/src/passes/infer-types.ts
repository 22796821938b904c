import { GraphBuilder, verifyGraph, type Graph } from '@loom/graph';
import { definePass } from './pass.ts';

/**
 * Re-runs every node's type rule (and attribute schema) in order, ignoring the stored types, then
 * checks the graph invariants. Graphs read from JSON or built by hand come out typed exactly as the
 * op table says; a node whose inputs do not fit its op fails here with the op, the input types and
 * the model line. Nodes and ids are kept as they are.
 */
export const inferTypes = definePass('infer-types', 'recompute every type from the op table and verify the graph', (graph: Graph) => {
  const b = new GraphBuilder();
  // attributes a GraphBuilder parsed for this op are not parsed again (graph-builder.ts); others are
  for (const node of graph.nodes) b.add(node.op, node.inputs, node.attrs, node.source ?? '');
  const out = b.build(Object.fromEntries(graph.outputs.map((o) => [o.name, o.node])));
  verifyGraph(out);
  return out;
});

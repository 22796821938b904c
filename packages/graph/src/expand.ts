import type { Graph, GraphNode } from './graph.ts';
import { GraphBuilder } from './graph-builder.ts';
import type { NodeRef, OpDef, OpEmitter } from './op-def.ts';
import { getOp } from './op-table.ts';

/** Which ops to replace by their decompositions (the node too, to expand some nodes of an op only). By default: composites and fused ops. */
export type ExpandPredicate = (def: OpDef, node: GraphNode) => boolean;

const isCompositeOrFused: ExpandPredicate = (def) => def.category === 'composite' || def.category === 'fused';

/**
 * Replaces ops by their decompositions, recursively (a decomposition may use other composites).
 * Every emitted node keeps the source location of the node it came from; `origins`, when given, is
 * filled with that node's id for each emitted node (the inspector groups a composite's pieces so).
 */
export function expandOps(graph: Graph, shouldExpand: ExpandPredicate = isCompositeOrFused, origins?: number[]): Graph {
  const b = new GraphBuilder();
  // `origin`: the node of `graph` being emitted (the predicate sees it for the ops of its decomposition too)
  const emit = (op: string, inputs: readonly NodeRef[], attrs: Record<string, unknown>, source: string | undefined, origin: GraphNode): NodeRef => {
    const def = getOp(op);
    if (!shouldExpand(def, origin) || !def.decompose) {
      const ref = b.add(op, inputs, attrs, source ?? ''); // '' keeps "no source" (undefined would capture this call site)
      if (origins) origins[ref] ??= origin.id;
      return ref;
    }
    const emitter: OpEmitter = {
      add: (o, i, a = {}) => emit(o, i, a, source, origin),
      constant: (value, shape = [], dtype = 'f32') =>
        emit('constant', [], { dtype, shape, values: typeof value === 'number' ? [value] : [...value] }, source, origin),
      typeOf: (ref) => b.typeOf(ref),
    };
    return def.decompose(emitter, inputs, attrs);
  };
  const map: NodeRef[] = [];
  for (const node of graph.nodes) {
    map[node.id] = emit(node.op, node.inputs.map((i) => map[i]!), { ...node.attrs }, node.source, node);
  }
  return b.build(Object.fromEntries(graph.outputs.map((o) => [o.name, map[o.node]!])));
}

import type { Graph } from './graph.ts';
import { GraphBuilder } from './graph-builder.ts';
import type { NodeRef, OpDef, OpEmitter } from './op-def.ts';
import { getOp } from './op-table.ts';

/** Which ops to replace by their decompositions. By default: composites and fused ops. */
export type ExpandPredicate = (def: OpDef) => boolean;

const isCompositeOrFused: ExpandPredicate = (def) => def.category === 'composite' || def.category === 'fused';

/**
 * Replaces ops by their decompositions, recursively (a decomposition may use other composites).
 * Every emitted node keeps the source location of the node it came from.
 */
export function expandOps(graph: Graph, shouldExpand: ExpandPredicate = isCompositeOrFused): Graph {
  const b = new GraphBuilder();
  const emit = (op: string, inputs: readonly NodeRef[], attrs: Record<string, unknown>, source: string | undefined): NodeRef => {
    const def = getOp(op);
    if (!shouldExpand(def) || !def.decompose) return b.add(op, inputs, attrs, source ?? ''); // '' keeps "no source" (undefined would capture this call site)
    const emitter: OpEmitter = {
      add: (o, i, a = {}) => emit(o, i, a, source),
      constant: (value, shape = [], dtype = 'f32') =>
        emit('constant', [], { dtype, shape, values: typeof value === 'number' ? [value] : [...value] }, source),
      typeOf: (ref) => b.typeOf(ref),
    };
    return def.decompose(emitter, inputs, attrs);
  };
  const map: NodeRef[] = [];
  for (const node of graph.nodes) {
    map[node.id] = emit(node.op, node.inputs.map((i) => map[i]!), { ...node.attrs }, node.source);
  }
  return b.build(Object.fromEntries(graph.outputs.map((o) => [o.name, map[o.node]!])));
}

import { bindInputs, checkWeights, type Weights } from './bind-inputs.ts';
import { LoomError } from './errors.ts';
import { expandOps } from './expand.ts';
import { nodeName, type Graph } from './graph.ts';
import { withPrecision, type NDArray, type Precision } from './ndarray.ts';
import { getOp } from './op-table.ts';
import { resolveShape } from './shape.ts';

export interface InterpretOptions {
  /** f64 (default) makes this the oracle; f32 stores every intermediate in float32. */
  readonly precision?: Precision;
}

const expanded = new WeakMap<Graph, Graph>();

/**
 * The reference interpreter: expands composites into primitives, then runs each node's reference
 * kernel in order. Slow and simple on purpose: every backend and pass is tested against it.
 */
export function interpret(graph: Graph, feeds: Readonly<Record<string, NDArray>>, weights: Weights, options: InterpretOptions = {}): Record<string, NDArray> {
  const precision = options.precision ?? 'f64';
  let primitive = expanded.get(graph);
  if (!primitive) {
    primitive = expandOps(graph);
    expanded.set(graph, primitive);
  }
  const bindings = bindInputs(primitive, feeds);
  checkWeights(primitive, weights, bindings);
  const values: NDArray[] = [];
  for (const node of primitive.nodes) {
    if (node.op === 'input') values[node.id] = withPrecision(feeds[nodeName(node)!]!, precision);
    else if (node.op === 'param') values[node.id] = withPrecision(weights.get(nodeName(node)!)!, precision);
    else {
      const def = getOp(node.op);
      const outShape = resolveShape(node.type.shape, bindings);
      try {
        values[node.id] = def.evaluate!(node.inputs.map((i) => values[i]!), node.attrs, { precision, outShape });
      } catch (e) {
        if (e instanceof LoomError) e.message = `${e.message} (node %${node.id} ${node.op}${node.source ? ` at ${node.source}` : ''})`;
        throw e;
      }
    }
  }
  return Object.fromEntries(primitive.outputs.map((o) => [o.name, values[o.node]!]));
}

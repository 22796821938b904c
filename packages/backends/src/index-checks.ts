import { InputError, nodeName, resolveDim, type DimBindings, type Graph, type GraphNode, type NDArray } from '@loom/graph';

/**
 * Host-side checks of the indices a run feeds to gather (token ids) and cache_update (positions),
 * before anything is uploaded: GPU kernels cannot throw, so a bad id found here becomes an
 * InputError naming the input, the position and the table.
 */

/** A graph input that feeds gather ids or cache_update positions. */
export interface IndexCheck {
  readonly inputName: string;
  readonly node: GraphNode;
}

/** The gather and cache_update nodes whose indices come straight from a graph input (through reshapes). */
export function findIndexChecks(graph: Graph, nodes: Iterable<GraphNode>): IndexCheck[] {
  const checks: IndexCheck[] = [];
  for (const node of nodes) {
    if (node.op !== 'gather' && node.op !== 'cache_update') continue;
    const source = graph.nodes[viewSource(graph, node.inputs[node.op === 'gather' ? 1 : 2]!)]!;
    if (source.op === 'input') checks.push({ inputName: nodeName(source)!, node });
  }
  return checks;
}

/** Throws an InputError for the first id outside its table or position that does not fit its cache. */
export function checkIndices(graph: Graph, checks: readonly IndexCheck[], feeds: Readonly<Record<string, NDArray>>, bindings: DimBindings): void {
  for (const c of checks) {
    const values = feeds[c.inputName]!.data;
    const at = `${c.node.op} node %${c.node.id}${c.node.source ? ` at ${c.node.source}` : ''}`;
    if (c.node.op === 'gather') {
      const table = graph.nodes[c.node.inputs[0]!]!;
      const rows = resolveDim(table.type.shape[0]!, bindings);
      for (let i = 0; i < values.length; i++) {
        const id = values[i]!;
        if (!(id >= 0 && id < rows)) {
          throw new InputError(`input '${c.inputName}' holds ${id} at position ${i}, outside the ${rows} rows of ${tensorLabel(graph, table.id)} (${at})`);
        }
      }
    } else {
      const cache = graph.nodes[c.node.inputs[0]!]!;
      const update = graph.nodes[c.node.inputs[1]!]!;
      const rawAxis = c.node.attrs['axis'] as number;
      const axis = rawAxis < 0 ? rawAxis + cache.type.shape.length : rawAxis;
      const capacity = resolveDim(cache.type.shape[axis]!, bindings);
      const t = resolveDim(update.type.shape[axis]!, bindings);
      for (let i = 0; i < values.length; i++) {
        const p = values[i]!;
        if (!(p >= 0 && p + t <= capacity)) {
          throw new InputError(`input '${c.inputName}' holds position ${p} (row ${i}): positions ${p}..${p + t - 1} do not fit ${tensorLabel(graph, cache.id)} of ${capacity} (${at})`);
        }
      }
    }
  }
}

/** The node whose data tensor `id` is: reshapes are views of their input. */
export function viewSource(graph: Graph, id: number): number {
  let node = graph.nodes[id]!;
  while (node.op === 'reshape') node = graph.nodes[node.inputs[0]!]!;
  return node.id;
}

/** What to call tensor `id` in messages: `weight 'name'`, `input 'name'`, else `%id (op)`. */
export function tensorLabel(graph: Graph, id: number): string {
  const node = graph.nodes[viewSource(graph, id)]!;
  const name = nodeName(node);
  if (node.op === 'param' && name) return `weight '${name}'`;
  if (node.op === 'input' && name) return `input '${name}'`;
  return `%${id} (${node.op})`;
}

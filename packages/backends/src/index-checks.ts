import { InputError, isCodeWord, nodeName, resolveDim, type DimBindings, type Graph, type GraphNode, type NDArray } from '@loom/graph';

/**
 * Host-side checks of the indices a run feeds to gather (token ids), scatter_add (the rows a gradient
 * goes to), softmax_cross_entropy (labels) and cache_update (positions), before anything is uploaded:
 * GPU kernels cannot throw, so a bad value found here becomes an InputError naming the input, the
 * position, the table and the node. Indices a graph computes are checked by the kernels themselves,
 * which count them in a status word the runtime reads back (`statusError`).
 */

/** The ops that read quantized code words (24 bits each), and which input holds them. */
const CODE_INPUT: Readonly<Record<string, number>> = { quantized_matmul: 1, dequantize: 0 };

/** The ops whose indices are checked, and which of their inputs holds them. */
const INDEX_INPUT: Readonly<Record<string, number>> = { gather: 1, scatter_add: 0, softmax_cross_entropy: 1, cache_update: 2, expert_matmul: 2, ...CODE_INPUT };

/** A graph input that feeds indices to a node of INDEX_INPUT. */
export interface IndexCheck {
  readonly inputName: string;
  readonly node: GraphNode;
}

/** The nodes of INDEX_INPUT whose indices come straight from a graph input (through reshapes). */
export function findIndexChecks(graph: Graph, nodes: Iterable<GraphNode>): IndexCheck[] {
  const checks: IndexCheck[] = [];
  for (const node of nodes) {
    const at = INDEX_INPUT[node.op];
    if (at === undefined) continue;
    const source = graph.nodes[viewSource(graph, node.inputs[at]!)]!;
    if (source.op === 'input') checks.push({ inputName: nodeName(source)!, node });
  }
  return checks;
}

/** What a node of INDEX_INPUT accepts at run time: the first bad value found is described by `outside`. */
interface IndexRule {
  /** Whether index `value` at `position` is fine. */
  fits(value: number, position: number): boolean;
  /** The message's middle, after `input 'x' holds`. */
  outside(value: number, position: number): string;
}

function indexRule(graph: Graph, node: GraphNode, bindings: DimBindings): IndexRule {
  const typeOf = (k: number) => graph.nodes[node.inputs[k]!]!.type;
  switch (node.op) {
    case 'gather': {
      const rows = resolveDim(typeOf(0).shape[0]!, bindings);
      return { fits: (id) => id >= 0 && id < rows, outside: (id, i) => `${id} at position ${i}, outside the ${rows} rows of ${tensorLabel(graph, node.inputs[0]!)}` };
    }
    case 'scatter_add': {
      const rows = resolveDim(node.type.shape[0]!, bindings);
      return { fits: (id) => id >= 0 && id < rows, outside: (id, i) => `${id} at position ${i}, outside the ${rows} rows of the table it adds into` };
    }
    case 'expert_matmul': {
      const experts = resolveDim(typeOf(1).shape[0]!, bindings);
      return { fits: (id) => id >= 0 && id < experts, outside: (id, i) => `${id} at position ${i}, outside the ${experts} experts of ${tensorLabel(graph, node.inputs[1]!)}` };
    }
    case 'quantized_matmul':
    case 'dequantize':
      return { fits: isCodeWord, outside: (w, i) => `code word ${w} at position ${i}, outside [0, 2^24) (24 bits of codes a word)` };
    case 'softmax_cross_entropy': {
      const logits = typeOf(0).shape;
      const classes = resolveDim(logits[logits.length - 1]!, bindings);
      const ignore = node.attrs['ignoreIndex'] as number | null;
      return {
        fits: (label) => label === ignore || (label >= 0 && label < classes),
        outside: (label, i) => `label ${label} at position ${i}, outside the ${classes} classes of ${tensorLabel(graph, node.inputs[0]!)} (and not the ignore index ${ignore})`,
      };
    }
    default: {
      const rawAxis = node.attrs['axis'] as number;
      const axis = rawAxis < 0 ? rawAxis + typeOf(0).shape.length : rawAxis;
      const capacity = resolveDim(typeOf(0).shape[axis]!, bindings);
      const t = resolveDim(typeOf(1).shape[axis]!, bindings);
      // a ring takes any position; with a count a row writes at most its count (checked by the kernel)
      if (node.attrs['rolling'] === true) return { fits: (p) => p >= 0, outside: (p, i) => `position ${p} (row ${i}): a negative position in the ring ${tensorLabel(graph, node.inputs[0]!)}` };
      const rows = node.inputs.length > 3 ? 0 : t;
      return {
        fits: (p) => p >= 0 && p + rows <= capacity,
        outside: (p, i) => `position ${p} (row ${i}): positions ${p}..${p + rows - 1} do not fit ${tensorLabel(graph, node.inputs[0]!)} of ${capacity}`,
      };
    }
  }
}

/** Throws an InputError for the first index that does not fit its node. */
export function checkIndices(graph: Graph, checks: readonly IndexCheck[], feeds: Readonly<Record<string, NDArray>>, bindings: DimBindings): void {
  for (const c of checks) {
    const values = feeds[c.inputName]!.data;
    const rule = indexRule(graph, c.node, bindings);
    for (let i = 0; i < values.length; i++) {
      if (!rule.fits(values[i]!, i)) throw new InputError(`input '${c.inputName}' holds ${rule.outside(values[i]!, i)} (${c.node.op} node %${c.node.id}${c.node.source ? ` at ${c.node.source}` : ''})`);
    }
  }
}

/**
 * The error for a kernel's status word (GPU kernels that met bad indices count them, and keep the
 * first position): `bad` values, the first at position (or row) `first`, in node `node`.
 */
export function statusError(graph: Graph, node: GraphNode, bad: number, first: number): InputError {
  const at = `${node.op} (node %${node.id}${node.source ? ` at ${node.source}` : ''})`;
  switch (node.op) {
    case 'gather':
      return new InputError(`${at}: ${bad} indices outside the rows of ${tensorLabel(graph, node.inputs[0]!)}, the first at position ${first}`);
    case 'scatter_add':
      return new InputError(`${at}: ${bad} indices of ${tensorLabel(graph, node.inputs[0]!)} outside the table's rows, the first at position ${first}`);
    case 'expert_matmul':
      return new InputError(`${at}: ${bad} ids of ${tensorLabel(graph, node.inputs[2]!)} outside the experts of ${tensorLabel(graph, node.inputs[1]!)}, the first at position ${first}`);
    case 'softmax_cross_entropy':
      return new InputError(`${at}: ${bad} labels of ${tensorLabel(graph, node.inputs[1]!)} outside the classes (and not the ignore index ${node.attrs['ignoreIndex']}), the first at position ${first}`);
    default:
      return new InputError(`${at}: the position of row ${first} does not fit the update into ${tensorLabel(graph, node.inputs[0]!)}`);
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

/**
 * The code words of quantized products on a GPU, checked on the host: those of weights now, at
 * prepare (an InputError naming the node and the weight); those of inputs at each run (findIndexChecks).
 * Codes the graph computes cannot be checked before a kernel reads them: refused by name.
 */
export function checkQuantizedCodes(graph: Graph, nodes: Iterable<GraphNode>, weights: ReadonlyMap<string, NDArray>, refuse: (op: string, why: string) => Error): void {
  for (const node of nodes) {
    const at = CODE_INPUT[node.op];
    if (at === undefined) continue;
    const source = graph.nodes[viewSource(graph, node.inputs[at]!)]!;
    if (source.op === 'input') continue;
    if (source.op !== 'param') throw refuse(node.op, `node %${node.id} reads code words computed by the graph (${tensorLabel(graph, source.id)}); they must come from a weight or an input, which are checked before upload`);
    const values = weights.get(nodeName(source)!)?.data ?? [];
    for (let i = 0; i < values.length; i++) {
      const w = values[i]!;
      if (!isCodeWord(w)) throw new InputError(`${node.op} (node %${node.id}${node.source ? ` at ${node.source}` : ''}): ${tensorLabel(graph, source.id)} holds code word ${w} at position ${i}, outside [0, 2^24) (24 bits of codes a word)`);
    }
  }
}

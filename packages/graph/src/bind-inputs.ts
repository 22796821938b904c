import { InputError } from './errors.ts';
import { graphInputs, graphParams, nodeName, type Graph, type GraphNode } from './graph.ts';
import type { NDArray } from './ndarray.ts';
import { symbolicSliceNeeds } from './ops/slice.ts';
import { formatShape, resolveDim, resolveShape, type DimBindings } from './shape.ts';

/** Weights by name, as read from a checkpoint. */
export type Weights = ReadonlyMap<string, NDArray>;

/**
 * Checks the values given for a graph's inputs against their declared types and binds the symbolic
 * dimensions (batch, seq, ...). Every problem is an InputError that names the tensor.
 */
export function bindInputs(graph: Graph, feeds: Readonly<Record<string, NDArray>>, options: { optional?: ReadonlySet<string> } = {}): Map<string, number> {
  const bindings = new Map<string, number>();
  const declared = graphInputs(graph);
  for (const name of Object.keys(feeds)) {
    if (!declared.some((n) => nodeName(n) === name)) {
      throw new InputError(`unexpected input '${name}'; the graph takes ${declared.map((n) => `'${nodeName(n)}'`).join(', ') || 'no inputs'}`);
    }
  }
  for (const node of declared) {
    const name = nodeName(node)!;
    const value = feeds[name];
    if (!value && options.optional?.has(name)) continue;
    if (!value) throw new InputError(`missing input '${name}' (${node.type.dtype}${formatShape(node.type.shape)})`);
    checkValue(`input '${name}'`, node, value, bindings, true);
  }
  checkSymbolicSlices(graph, bindings);
  return bindings;
}

/** Every slice of a symbolic axis has the extent its static result needs, now that the symbols have values. */
function checkSymbolicSlices(graph: Graph, bindings: DimBindings): void {
  for (const node of graph.nodes) {
    if (node.op !== 'slice') continue;
    const x = graph.nodes[node.inputs[0]!]!.type.shape;
    const a = node.attrs as { axis: number; start: number; end: number | null; step: number };
    const dim = x[a.axis < 0 ? a.axis + x.length : a.axis];
    if (typeof dim !== 'string' || (a.start === 0 && a.end === null && a.step === 1)) continue;
    const needs = symbolicSliceNeeds(a) ?? 0;
    const size = resolveDim(dim, bindings);
    if (size < needs) {
      const where = node.source ? ` (at ${node.source})` : '';
      throw new InputError(`slice %${node.id} [${a.start}:${a.end ?? ''}] of axis '${dim}' needs ${needs} positions, but '${dim}' is ${size} in this run${where}`);
    }
  }
}

/** Checks that every param of the graph has a weight of the right dtype and shape. */
export function checkWeights(graph: Graph, weights: Weights, bindings: DimBindings): void {
  const problems: string[] = [];
  for (const node of graphParams(graph)) {
    const name = nodeName(node)!;
    const value = weights.get(name);
    if (!value) problems.push(`missing weight '${name}' ${node.type.dtype}${formatShape(node.type.shape)}`);
    else {
      try {
        checkValue(`weight '${name}'`, node, value, new Map(bindings), false);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
  }
  if (problems.length > 0) throw new InputError(problems.join('; '));
}

function checkValue(what: string, node: GraphNode, value: NDArray, bindings: Map<string, number>, bind: boolean): void {
  const { dtype, shape } = node.type;
  if (value.dtype !== dtype) throw new InputError(`${what}: expected dtype ${dtype}, got ${value.dtype}`);
  if (value.shape.length !== shape.length) {
    throw new InputError(`${what}: expected shape ${formatShape(shape)}, got ${formatShape(value.shape)}`);
  }
  shape.forEach((dim, i) => {
    const actual = value.shape[i]!;
    if (typeof dim === 'number') {
      if (dim !== actual) throw new InputError(`${what}: expected shape ${formatShape(shape)}, got ${formatShape(value.shape)}`);
    } else if (bind && /^[A-Za-z_]\w*$/.test(dim)) {
      const bound = bindings.get(dim);
      if (bound !== undefined && bound !== actual) {
        throw new InputError(`${what}: dimension '${dim}' is ${actual} here but ${bound} elsewhere`);
      }
      bindings.set(dim, actual);
    } else if (resolveShape([dim], bindings)[0] !== actual) {
      throw new InputError(`${what}: dimension '${dim}' should be ${resolveShape([dim], bindings)[0]}, got ${actual}`);
    }
  });
  let expected = 1;
  for (const d of value.shape) expected *= d;
  if (value.data.length !== expected) throw new InputError(`${what}: ${value.data.length} values for shape ${formatShape(value.shape)}`);
}

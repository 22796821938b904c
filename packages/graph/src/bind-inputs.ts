import { InputError } from './errors.ts';
import { graphInputs, graphParams, nodeName, type Graph, type GraphNode } from './graph.ts';
import type { NDArray } from './ndarray.ts';
import { formatShape, resolveShape, type DimBindings } from './shape.ts';

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
  return bindings;
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

/**
 * Size checks an export makes before it allocates or writes anything: a graph from JSON may declare
 * a param or constant of 10^15 elements, which no typed array holds, and which would otherwise end
 * as `Invalid typed array length` or an out-of-memory crash halfway through.
 */
import { LoomError, parseDim, type Graph, type GraphNode, type Shape } from '@loom/graph';

/** A tensor of the graph is larger than an export can hold or write. */
export class TensorSizeError extends LoomError {
  constructor(message: string) {
    super('tensor-size', message);
  }
}

/** The most elements one exported tensor may have: V8's limit on one typed array, which holds it when it runs. */
export const MAX_EXPORT_TENSOR_ELEMENTS = 2 ** 32;

/**
 * The element count of a shape's static part: its sizes, and the factors of its symbolic sizes
 * (`'4*seq'` counts 4), so the least the tensor holds for any symbol values of 1 or more. Exact up
 * to Number.MAX_SAFE_INTEGER; past it only "that large".
 */
function staticElementCount(shape: Shape): number {
  return shape.reduce<number>((count, d) => count * (typeof d === 'number' ? d : parseDim(d).factor), 1);
}

/** `1000000000000` or, past exact integers, `more than 9007199254740991`. */
function formatCount(count: number): string {
  return Number.isSafeInteger(count) ? String(count) : `more than ${Number.MAX_SAFE_INTEGER}`;
}

/** `param 'w' f32[100000, 100000] (node %1, at model.ts:3)`: a node as errors name it. */
function describeTensor(node: GraphNode): string {
  const name = typeof node.attrs['name'] === 'string' ? ` '${node.attrs['name']}'` : '';
  return `${node.op}${name} ${node.type.dtype}[${node.type.shape.join(', ')}] (node %${node.id}${node.source ? `, at ${node.source}` : ''})`;
}

/**
 * Throws a TensorSizeError naming the first node (of those `which` selects) whose tensor has more
 * than MAX_EXPORT_TENSOR_ELEMENTS elements, with its count; `what` says which export asks.
 */
export function checkTensorSizes(graph: Graph, what: string, which: (node: GraphNode) => boolean = () => true): void {
  for (const node of graph.nodes) {
    if (!which(node)) continue;
    const count = staticElementCount(node.type.shape);
    if (count > MAX_EXPORT_TENSOR_ELEMENTS) {
      throw new TensorSizeError(`${what}: ${describeTensor(node)} has ${formatCount(count)} elements, more than one tensor may hold (${MAX_EXPORT_TENSOR_ELEMENTS}); check the graph's shapes`);
    }
  }
}

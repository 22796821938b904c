import type { TensorType } from './tensor-type.ts';

/**
 * A graph is a flat, topologically ordered list of typed nodes (node.id === its index), plus named
 * outputs. Graph inputs are nodes of op `input`, weights are nodes of op `param`; both carry their
 * tensor name in `attrs.name`. Graphs are plain data: passes build new ones rather than mutate.
 */
export interface GraphNode {
  readonly id: number;
  readonly op: string;
  readonly inputs: readonly number[];
  readonly attrs: Readonly<Record<string, unknown>>;
  readonly type: TensorType;
  /** `file:line` of the model code that created the node. */
  readonly source?: string;
}

export interface GraphOutput {
  readonly name: string;
  readonly node: number;
}

export interface Graph {
  readonly nodes: readonly GraphNode[];
  readonly outputs: readonly GraphOutput[];
}

export function graphInputs(graph: Graph): GraphNode[] {
  return graph.nodes.filter((n) => n.op === 'input');
}

export function graphParams(graph: Graph): GraphNode[] {
  return graph.nodes.filter((n) => n.op === 'param');
}

export function nodeName(node: GraphNode): string | undefined {
  const name = node.attrs['name'];
  return typeof name === 'string' ? name : undefined;
}

/** How many nodes read each node (outputs count as readers). */
export function useCounts(graph: Graph): number[] {
  const uses = new Array<number>(graph.nodes.length).fill(0);
  for (const n of graph.nodes) for (const i of n.inputs) uses[i]!++;
  for (const o of graph.outputs) uses[o.node]!++;
  return uses;
}

/**
 * States: names that are both a graph input and a graph output (a KV cache, say). A run reads the
 * input and produces the next value under the same name; executors keep it between runs.
 */
export function stateNames(graph: Graph): Set<string> {
  const inputs = new Set(graphInputs(graph).map((n) => nodeName(n)!));
  return new Set(graph.outputs.map((o) => o.name).filter((name) => inputs.has(name)));
}

import { expandOps, LoomError, normalizeAxis, type Dim, type Graph, type GraphNode, type Shape } from '@loom/graph';

/**
 * "Also output these intermediates": values inside a model that a run returns next to its outputs,
 * for looking into it (the inspector's attention heatmaps). They are ordinary graph outputs added
 * before the passes run, so every backend computes them with its own kernels, and a fusion that
 * would hide one leaves it alone (an output counts as a reader): an attention whose weights are
 * asked for runs as matmul, softmax, matmul instead of one fused_attention.
 */
export interface IntermediateSpec {
  /**
   * Each scaled-dot-product attention's weights, softmax(q kᵀ · scale + mask) over the keys, as
   * outputs `attention.0`, `attention.1`, ... in graph order: [..., Tq, Tk] per head.
   */
  readonly attentionWeights?: boolean;
  /** Nodes of the given graph to output as well, by output name (an embedding, a block's output). */
  readonly nodes?: Readonly<Record<string, number>>;
  /**
   * The steps inside these attentions (indices as in `attention.<i>`; implies attentionWeights), as
   * outputs `attention.<i>.<step>` (ATTENTION_STEPS): what a walkthrough of attention shows.
   */
  readonly attentionSteps?: readonly number[];
}

/**
 * The steps of one scaled-dot-product attention, in the order it computes them: the queries, keys
 * and values per head ([..., heads, T, d]); the scores q kᵀ; the scores scaled (by 1/sqrt(d), where
 * the model scales them and not q), soft-capped, and masked (a causal or padding mask, ALiBi, a
 * window: whatever is added); and the context, the weights times the values. A model that lacks a
 * step (no mask, q scaled before the product) does not output it.
 */
export const ATTENTION_STEPS = ['q', 'k', 'v', 'scores', 'scaled', 'capped', 'masked', 'context'] as const;
export type AttentionStep = (typeof ATTENTION_STEPS)[number];

export interface Intermediate {
  readonly name: string;
  readonly kind: 'attention' | 'attention-step' | 'node';
  /** An attention step: which (ATTENTION_STEPS), of which attention output. */
  readonly step?: AttentionStep;
  readonly of?: string;
  /** The node in the returned graph. */
  readonly node: number;
  /** The node of the given graph it belongs to: itself, or the composite whose decomposition holds it. */
  readonly origin: number;
  readonly shape: Shape;
  /** The model line that built it. */
  readonly source?: string;
  /** Attention only: the queries and keys have different lengths (cross-attention) or the same. */
  readonly cross?: boolean;
  /**
   * Attention only: the parameter the queries are projected with, less its last name part
   * (`h.0.attn.c_attn`, `decoder.layers.1.multihead_attn`): which layer and block it is.
   */
  readonly block?: string;
}

export class IntermediateError extends LoomError {
  constructor(message: string) {
    super('intermediates', message);
  }
}

/**
 * The q kᵀ matmul (transposed B) that `id`'s scores come from, read back through the steps attention
 * takes on them: scaling, soft-capping (tanh between two products), masks and ALiBi added; else
 * undefined. A few steps deep at most: a mask built from ranges or inputs holds no such matmul.
 */
function scoresMatmul(graph: Graph, id: number, depth = 6): GraphNode | undefined {
  const node = graph.nodes[id]!;
  if (node.op === 'matmul') return node.attrs['transposeB'] === true ? node : undefined;
  if (depth === 0 || !['add', 'mul', 'tanh'].includes(node.op)) return undefined;
  for (const input of node.inputs) {
    const found = scoresMatmul(graph, input, depth - 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * The nodes of an attention's steps, from its weights (softmax) node: the chain from q kᵀ to the
 * softmax (mul: scaled, tanh between two muls: capped, add: masked; the last of each kind), the
 * product's inputs, and the reader that multiplies the weights by the values.
 */
function attentionStepNodes(graph: Graph, weights: GraphNode): Partial<Record<AttentionStep, number>> {
  const scores = scoresMatmul(graph, weights.inputs[0]!)!;
  const steps: Partial<Record<AttentionStep, number>> = { q: scores.inputs[0]!, k: scores.inputs[1]!, scores: scores.id };
  // from the softmax's input back to the product: the first node of each kind met is the last applied
  const chain: GraphNode[] = [];
  for (let at = graph.nodes[weights.inputs[0]!]!; at.id !== scores.id; ) {
    chain.push(at);
    const next = at.inputs.map((i) => graph.nodes[i]!).find((i) => i.id === scores.id || scoresMatmul(graph, i.id) === scores);
    if (!next) break;
    at = next;
  }
  const tanh = chain.findIndex((n) => n.op === 'tanh');
  for (const [i, n] of chain.entries()) {
    // soft-capping is c tanh(x / c): the product right after the tanh (walking back) is its 1 / c
    if (n.op === 'mul' && tanh >= 0 && i === tanh + 1) continue;
    const step: AttentionStep | undefined = n.op === 'add' ? 'masked' : n.op === 'mul' ? (tanh >= 0 && i < tanh ? 'capped' : 'scaled') : undefined;
    if (step && steps[step] === undefined) steps[step] = n.id;
  }
  const context = graph.nodes.find((r) => r.op === 'matmul' && r.inputs[0] === weights.id && r.attrs['transposeB'] !== true);
  if (context) Object.assign(steps, { v: context.inputs[1]!, context: context.id });
  return steps;
}

/** The softmax nodes of scaled-dot-product attentions: softmax over the last axis of q kᵀ (scaled, masked), read by a matmul with v. */
export function attentionWeightNodes(graph: Graph): GraphNode[] {
  const readers = graph.nodes.map(() => [] as GraphNode[]);
  for (const n of graph.nodes) for (const i of n.inputs) readers[i]!.push(n);
  return graph.nodes.filter((n) => {
    if (n.op !== 'softmax') return false;
    if (normalizeAxis(n.attrs['axis'] as number, n.type.shape.length) !== n.type.shape.length - 1) return false;
    if (!readers[n.id]!.some((r) => r.op === 'matmul' && r.inputs[0] === n.id && r.attrs['transposeB'] !== true)) return false;
    return scoresMatmul(graph, n.inputs[0]!) !== undefined;
  });
}

/** The nearest parameter upstream of node `id` (breadth first), by name without its last part ('.weight', '.bias', '.in_proj_weight'). */
function nearestParamPrefix(graph: Graph, id: number): string | undefined {
  const seen = new Set<number>([id]);
  let frontier = [id];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const n of frontier) {
      const node = graph.nodes[n]!;
      const name = node.attrs['name'];
      if (node.op === 'param' && typeof name === 'string') return name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : name;
      for (const i of node.inputs) {
        if (seen.has(i)) continue;
        seen.add(i);
        next.push(i);
      }
    }
    frontier = next;
  }
  return undefined;
}

const sameDim = (a: Dim | undefined, b: Dim | undefined) => a === b;

/** The graph with the intermediates as extra outputs, and what each is. Composites are expanded when attention weights are asked for. */
export function withIntermediates(graph: Graph, spec: IntermediateSpec): { graph: Graph; intermediates: Intermediate[] } {
  const taken = new Set(graph.outputs.map((o) => o.name));
  const claim = (name: string) => {
    if (taken.has(name)) throw new IntermediateError(`an intermediate output named '${name}' would hide the graph's output of that name`);
    taken.add(name);
  };
  const extra = Object.entries(spec.nodes ?? {}).map(([name, node]) => {
    if (!Number.isInteger(node) || node < 0 || node >= graph.nodes.length) throw new IntermediateError(`intermediate '${name}': node %${node} is not a node of the graph (it has ${graph.nodes.length})`);
    claim(name);
    return { name, node };
  });
  let g: Graph = { nodes: graph.nodes, outputs: [...graph.outputs, ...extra] };
  const weights = spec.attentionWeights || (spec.attentionSteps?.length ?? 0) > 0;
  // each node's node of the given graph (the same ids until composites are expanded)
  let origins = graph.nodes.map((n) => n.id);
  // an attention with extras (soft-capping, ALiBi, windows) decomposes into fused_attention: opened too
  if (weights) {
    origins = [];
    g = expandOps(g, (def) => def.category === 'composite' || def.name === 'fused_attention', origins);
  }
  const byName = new Map(g.outputs.map((o) => [o.name, o.node]));
  const intermediates: Intermediate[] = extra.map(({ name }) => {
    const node = g.nodes[byName.get(name)!]!;
    return { name, kind: 'node', node: node.id, origin: origins[node.id]!, shape: node.type.shape, ...(node.source ? { source: node.source } : {}) };
  });
  if (weights) {
    const outputs = [...g.outputs];
    const found = attentionWeightNodes(g);
    for (const i of spec.attentionSteps ?? []) {
      if (!(Number.isInteger(i) && i >= 0 && i < found.length)) throw new IntermediateError(`attention steps: the graph has ${found.length} attentions (attention.0 to attention.${found.length - 1}), not attention.${i}`);
    }
    found.forEach((n, i) => {
      const name = `attention.${i}`;
      claim(name);
      outputs.push({ name, node: n.id });
      const shape = n.type.shape;
      const block = nearestParamPrefix(g, scoresMatmul(g, n.inputs[0]!)!.inputs[0]!);
      intermediates.push({ name, kind: 'attention', node: n.id, origin: origins[n.id]!, shape, cross: !sameDim(shape[shape.length - 1], shape[shape.length - 2]), ...(block ? { block } : {}), ...(n.source ? { source: n.source } : {}) });
      if (!spec.attentionSteps?.includes(i)) return;
      const steps = attentionStepNodes(g, n);
      for (const step of ATTENTION_STEPS) {
        const id = steps[step];
        if (id === undefined) continue;
        const stepName = `${name}.${step}`;
        claim(stepName);
        outputs.push({ name: stepName, node: id });
        const node = g.nodes[id]!;
        intermediates.push({ name: stepName, kind: 'attention-step', step, of: name, node: id, origin: origins[id]!, shape: node.type.shape, ...(node.source ? { source: node.source } : {}) });
      }
    });
    g = { nodes: g.nodes, outputs };
  }
  return { graph: g, intermediates };
}

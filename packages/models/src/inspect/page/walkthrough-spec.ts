/**
 * Which values the walkthrough shows, found in any model's graph (no DOM: the tests ask the
 * reference interpreter for the same): the embedding lookups, the steps inside the first attention
 * (and, for an encoder-decoder, the decoder's first self- and cross-attention), and the rest of the
 * first block by the ops it is made of: the heads concatenated (the attention op's output), the
 * output projection (the linear reading it), the residual add (and the norm, before or after it),
 * the feed-forward network and its residual add.
 */
import { withIntermediates, type Intermediate, type IntermediateSpec } from '@loom/compiler';
import type { Graph, GraphNode } from '@loom/graph';

/** The embedding lookups and positional encodings, by the names the model view shows them under. */
export function embeddingNodes(graph: Graph): Record<string, number> {
  const nodes: Record<string, number> = {};
  for (const n of graph.nodes) {
    if (n.op === 'embed') nodes[`embedding ${String(graph.nodes[n.inputs[1]!]!.attrs['name'] ?? `%${n.id}`)}`] = n.id;
    if (n.op === 'sinusoidal_posenc' || n.op === 'learned_posenc') nodes[`embedding + positions %${n.id}`] = n.id;
  }
  return nodes;
}

/** One step of the first block after its attention: the output holding it, and what to say. */
export interface BlockStep {
  readonly name: string;
  readonly title: string;
  readonly text: string;
  readonly op: string;
}

const NORMS = ['layer_norm', 'rms_norm'];
const RESIDUALS = ['add', 'add_norm'];
const FFNS = ['ffn', 'glu_ffn'];

/** The first block's steps after its first attention, in the order the model computes them. */
export function blockSteps(graph: Graph): BlockStep[] {
  const readers = graph.nodes.map(() => [] as GraphNode[]);
  for (const n of graph.nodes) for (const i of new Set(n.inputs)) readers[i]!.push(n);
  const first = (from: GraphNode | undefined, ops: string[]) => (from ? readers[from.id]!.find((r) => ops.includes(r.op)) : undefined);
  const attention = graph.nodes.find((n) => n.op === 'attention');
  const projection = first(attention, ['linear']);
  const residual = first(projection, RESIDUALS);
  const steps: BlockStep[] = [];
  const add = (node: GraphNode | undefined, title: string, text: string) => node && steps.push({ name: `block %${node.id} ${node.op}`, title, text, op: node.op });
  add(attention, 'Heads concatenated', 'The weighted sums of every head, side by side: one vector of the model\'s width per token again.');
  add(projection, 'The output projection', 'A linear layer mixes what the heads found into one vector per token.');
  const postNorm = residual?.op === 'add_norm';
  add(residual, postNorm ? 'Residual add and layer norm' : 'Residual add', postNorm
    ? 'The block\'s input is added back (the residual connection keeps what the token was), then normalized to mean 0 and variance 1 with a learned gain and bias.'
    : 'The block\'s input is added back: the residual connection keeps what the token was, and the attention adds to it.');
  const norm = postNorm ? undefined : first(residual, NORMS);
  add(norm, norm?.op === 'rms_norm' ? 'RMSNorm' : 'Layer norm', norm?.op === 'rms_norm'
    ? 'Llama-style models normalize by the root mean square only (RMSNorm: no mean subtracted, no bias), before the feed-forward network.'
    : 'Each vector is normalized to mean 0 and variance 1 with a learned gain and bias, before the feed-forward network (GPT-2 normalizes before each sub-layer).');
  const ffn = first(norm ?? residual, FFNS);
  add(ffn, 'The feed-forward network', ffn?.op === 'glu_ffn'
    ? 'Each token alone goes through SwiGLU: silu(x W_gate) times (x W_up), projected back by W_down. Llama\'s variation on the two-layer network.'
    : 'Each token alone goes through two linear layers with a non-linearity between them (the inner width four times the model\'s).');
  add(first(ffn, RESIDUALS), first(ffn, RESIDUALS)?.op === 'add_norm' ? 'Residual add and layer norm, again' : 'Residual add, again', 'The block\'s second residual connection; the next block starts from here, and so on up the stack.');
  return steps;
}

/** The walkthrough's intermediates. */
export function walkthroughSpec(graph: Graph, family: string): IntermediateSpec {
  const attentions = withIntermediates(graph, { attentionWeights: true }).intermediates;
  const chosen = new Set<number>([0]);
  if (family === 'seq2seq') {
    for (const i of [attentions.findIndex((a) => !a.cross && a.block?.startsWith('decoder')), attentions.findIndex((a) => a.cross)]) if (i >= 0) chosen.add(i);
  }
  const nodes: Record<string, number> = { ...embeddingNodes(graph) };
  for (const step of blockSteps(graph)) nodes[step.name] = Number(/%(\d+)/.exec(step.name)![1]);
  return { attentionWeights: true, nodes, attentionSteps: [...chosen].sort((a, b) => a - b) };
}

/**
 * Whose tokens an attention's queries and keys are: the prompt's in a decoder-only model; in an
 * encoder-decoder the source's for the encoder's self-attention, the decoder's for its own, and the
 * decoder's against the source's for cross-attention. Without a block name, an attention whose
 * queries are as many as the source's tokens is taken for the encoder's.
 */
export function attentionSides(i: Intermediate, family: string, queries: number, sourceLength: number): ['source' | 'target', 'source' | 'target'] {
  if (family !== 'seq2seq') return ['target', 'target'];
  if (i.cross) return ['target', 'source'];
  return (i.block?.startsWith('encoder') ?? queries === sourceLength) ? ['source', 'source'] : ['target', 'target'];
}

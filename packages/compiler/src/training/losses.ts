import { GraphBuilder, LoomError, type Graph, type NodeRef } from '@loom/graph';

export interface CrossEntropyLossOptions {
  /** The output holding the logits [..., V] (default 'logits'). */
  readonly logits?: string;
  /** The name of the new i32 input holding the target ids, shaped as the logits without their last axis (default 'labels'). */
  readonly labels?: string;
  /** Positions whose label is this are not predicted (PyTorch's -100 by default; a pad id for seq2seq). */
  readonly ignoreIndex?: number | null;
  readonly labelSmoothing?: number;
  /** The graph's outputs to keep beside `loss` (default: the logits). */
  readonly keep?: readonly string[];
}

/**
 * The graph with a `loss` output: the mean cross-entropy of softmax(logits) against a new `labels`
 * input, over the positions whose label is not ignored (PyTorch's CrossEntropyLoss with
 * ignore_index and label_smoothing, reduction 'mean'). A batch with no predicted position has loss 0.
 */
export function withCrossEntropyLoss(graph: Graph, options: CrossEntropyLossOptions = {}): Graph {
  const logitsName = options.logits ?? 'logits';
  const labelsName = options.labels ?? 'labels';
  const logitsOut = graph.outputs.find((o) => o.name === logitsName);
  if (!logitsOut) throw new LoomError('train-step', `loss: the graph has no output '${logitsName}' (outputs: ${graph.outputs.map((o) => o.name).join(', ')})`);
  const b = new GraphBuilder();
  const map: NodeRef[] = [];
  for (const n of graph.nodes) map[n.id] = b.add(n.op, n.inputs.map((i) => map[i]!), { ...n.attrs }, n.source ?? '');
  const logits = map[logitsOut.node]!;
  const shape = b.typeOf(logits).shape.slice(0, -1);
  const labels = b.input(labelsName, 'i32', shape);
  const ignore = options.ignoreIndex === undefined ? -100 : options.ignoreIndex;
  const where = 'cross-entropy loss';
  const losses = b.add('softmax_cross_entropy', [logits, labels], { ignoreIndex: ignore, labelSmoothing: options.labelSmoothing ?? 0 }, where);
  const axes = shape.map((_, i) => i);
  const total = b.add('reduce_sum', [losses], { axes, keepDims: false }, where);
  const predicted = ignore === null ? b.add('broadcast_like', [b.constant(1), labels], {}, where) : b.add('cast', [b.add('not_equal', [labels, b.constant(ignore, [], 'i32')], {}, where)], { dtype: 'f32' }, where);
  const count = b.add('maximum', [b.add('reduce_sum', [predicted], { axes, keepDims: false }, where), b.constant(1)], {}, where);
  const loss = b.add('reshape', [b.add('div', [total, count], {}, where)], { shape: [1] }, where);
  const outputs: Record<string, NodeRef> = { loss };
  for (const name of options.keep ?? [logitsName]) {
    const o = graph.outputs.find((x) => x.name === name);
    if (!o) throw new LoomError('train-step', `loss: keep names '${name}', which is not an output of the graph`);
    outputs[name] = map[o.node]!;
  }
  return b.build(outputs);
}

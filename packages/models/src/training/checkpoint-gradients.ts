import type { Backend, PrepareOptions } from '@loom/backends';
import { grad, withCrossEntropyLoss } from '@loom/compiler';
import type { NDArray } from '@loom/graph';
import { ModelInputError } from '../errors.ts';
import type { CausalLmFamily } from '../families/family.ts';
import { toCheckpointNames } from '../weights/mapping.ts';

/** PyTorch's ignore_index: a label that predicts nothing. */
export const IGNORE_LABEL = -100;

/** A batch of next-token prediction: `ids` and `labels` i32 [B, T], labels IGNORE_LABEL where nothing is predicted. */
export interface LabelledBatch {
  readonly ids: NDArray;
  readonly labels: NDArray;
}

export interface CheckpointGradients {
  /** The mean cross-entropy over the predicted positions. */
  readonly loss: number;
  /** d loss / d tensor for every tensor of the checkpoint the model uses, under the checkpoint's names and in its layout. */
  readonly gradients: Map<string, NDArray>;
}

/**
 * The loss of a causal LM on a labelled batch and its gradient with respect to every weight, named
 * as the checkpoint names them (Hugging Face's `transformer.h.0.attn.c_attn.weight`, ...), so that
 * they can be compared with another framework's: the family's graph with a cross-entropy loss,
 * differentiated by `grad`, compiled and run on `backend`, the gradients mapped back through the
 * inverse of the checkpoint's weight mapping. A tied table gets one gradient, the sum over its uses.
 */
export async function checkpointGradients<C>(family: CausalLmFamily<C>, cfg: C, checkpoint: ReadonlyMap<string, NDArray>, batch: LabelledBatch, backend: Backend, prepare?: PrepareOptions): Promise<CheckpointGradients> {
  checkBatch(batch, family.limits(cfg).vocabSize, family.limits(cfg).maxPositions);
  const weights = family.weights(cfg, checkpoint);
  const graph = grad(withCrossEntropyLoss(family.build(cfg), { labels: 'labels', ignoreIndex: IGNORE_LABEL, keep: [] }), { loss: 'loss' });
  const model = await backend.prepare(graph, weights, prepare);
  try {
    const out = await model.run({ input_ids: batch.ids, labels: batch.labels });
    const byLoomName = new Map<string, NDArray>();
    for (const [name, value] of Object.entries(out)) if (name.startsWith('grad.')) byLoomName.set(name.slice('grad.'.length), value);
    return { loss: out['loss']!.data[0]!, gradients: toCheckpointNames(byLoomName, family.mapping(cfg, new Set(checkpoint.keys()))) };
  } finally {
    model.dispose();
  }
}

/** Shapes, ids inside the vocabulary, labels inside it or ignored, rows no longer than the model's positions. */
function checkBatch({ ids, labels }: LabelledBatch, vocabSize: number, maxPositions: number): void {
  const shape = (t: NDArray) => `[${t.shape.join(', ')}]`;
  if (ids.shape.length !== 2 || labels.shape.length !== 2 || ids.shape[0] !== labels.shape[0] || ids.shape[1] !== labels.shape[1]) {
    throw new ModelInputError(`gradients: ids ${shape(ids)} and labels ${shape(labels)} must both be [batch, seq] of one shape`);
  }
  if (ids.shape[1]! > maxPositions) throw new ModelInputError(`gradients: rows of ${ids.shape[1]} tokens, but the model has ${maxPositions} positions`);
  const seq = ids.shape[1]!;
  const where = (i: number) => `row ${Math.floor(i / seq) + 1}, position ${(i % seq) + 1}`;
  ids.data.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new ModelInputError(`gradients: id ${id} at ${where(i)} is outside the vocabulary (0 to ${vocabSize - 1})`);
  });
  labels.data.forEach((label, i) => {
    if (label !== IGNORE_LABEL && (!Number.isInteger(label) || label < 0 || label >= vocabSize)) throw new ModelInputError(`gradients: label ${label} at ${where(i)} is neither ${IGNORE_LABEL} nor inside the vocabulary (0 to ${vocabSize - 1})`);
  });
}

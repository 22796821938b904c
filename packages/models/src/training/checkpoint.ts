import { readSafetensorsFile, writeSafetensorsFile } from '@loom/graph/node';
import type { NDArray } from '@loom/graph';
import { ModelInputError } from '../errors.ts';

/**
 * A training checkpoint: one safetensors file holding every state of the step (the trained weights
 * under their graph names, the optimizer's moments `opt.m.<p>` / `opt.v.<p>`, the step count
 * `opt.step`) and the weights it does not train, with metadata giving the data generator's state and
 * what was being trained. Written atomically (a temporary file renamed over the old checkpoint), so
 * a run killed mid-write leaves the previous checkpoint whole.
 */
export interface Checkpoint {
  readonly tensors: ReadonlyMap<string, NDArray>;
  /** The data generator's state, to draw the same batches from here on. */
  readonly generator: string;
  /** What the run trains and how (task, model config, optimizer, schedule), to resume it the same way. */
  readonly run: Readonly<Record<string, unknown>>;
}

const FORMAT = 'loom-training-checkpoint/1';

export async function saveCheckpoint(path: string, checkpoint: Checkpoint, replace: boolean): Promise<void> {
  await writeSafetensorsFile(path, checkpoint.tensors, { format: FORMAT, generator: checkpoint.generator, run: JSON.stringify(checkpoint.run) }, { replace });
}

export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  const { tensors, metadata } = await readSafetensorsFile(path);
  if (metadata?.['format'] !== FORMAT) throw new ModelInputError(`${path}: not a Loom training checkpoint (its metadata has no format '${FORMAT}')`);
  let run: Record<string, unknown>;
  try {
    run = JSON.parse(metadata['run'] ?? '{}') as Record<string, unknown>;
  } catch {
    throw new ModelInputError(`${path}: the checkpoint's run description is not JSON`);
  }
  return { tensors, generator: metadata['generator'] ?? '', run };
}

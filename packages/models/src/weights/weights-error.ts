import { LoomError } from '@loom/graph';

export interface MisshapedTensor {
  readonly name: string;
  /** e.g. `f32[384, 128]` */
  readonly expected: string;
  readonly actual: string;
}

/** How many names of each list the message shows; the fields keep them all. */
const SHOWN = 8;

/**
 * A checkpoint does not fit a model. Every problem is collected first and reported together: tensors
 * the model needs but the checkpoint lacks, tensors the checkpoint has but the model does not use,
 * and tensors of the wrong shape or dtype. Names are the checkpoint's own.
 */
export class WeightsError extends LoomError {
  constructor(
    readonly missing: readonly string[],
    readonly unexpected: readonly string[],
    readonly misshaped: readonly MisshapedTensor[],
    readonly source = 'checkpoint',
  ) {
    const parts: string[] = [];
    if (missing.length > 0) parts.push(`${missing.length} missing (${list(missing)})`);
    if (unexpected.length > 0) parts.push(`${unexpected.length} unexpected (${list(unexpected)})`);
    if (misshaped.length > 0) parts.push(`${misshaped.length} mis-shaped (${list(misshaped.map((t) => `${t.name}: expected ${t.expected}, got ${t.actual}`))})`);
    super('weights', `${source} does not fit the model: ${parts.join('; ')}`);
  }
}

function list(items: readonly string[]): string {
  const shown = items.slice(0, SHOWN).join(', ');
  return items.length > SHOWN ? `${shown}, ... and ${items.length - SHOWN} more` : shown;
}

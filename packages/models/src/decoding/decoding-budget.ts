/**
 * Bounds on what one decoding may ask for, checked before its first run: the beam count, and the
 * memory of its batch. Every beam (and every prompt decoded together) is a row of the batch, with
 * its own KV cache and its own logits each step, so `--beams 1000` on GPT-2 is gigabytes.
 */
import { formatBytes, MemoryBudgetError } from '@loom/backends';
import type { Weights } from '@loom/graph';
import { BEAMS_WHY, MAX_BEAMS } from '../config/limits.ts';
import { ModelInputError } from '../errors.ts';

/** Refuses a beam count that is not an integer from 1 to MAX_BEAMS. */
export function checkBeams(beams: number): void {
  if (!(Number.isInteger(beams) && beams >= 1)) throw new ModelInputError(`beams must be a positive integer, got ${beams}`);
  if (beams > MAX_BEAMS) throw new ModelInputError(`beams must be at most ${MAX_BEAMS} (${BEAMS_WHY}), got ${beams}`);
}

/** What a decoding holds: the weights, and per row of its batch the KV cache at full length and the logits. */
export interface DecodingBytes {
  readonly weights: number;
  readonly perRow: number;
}

/** One row's KV cache: keys and values of `layers` layers, `positions` long and `width` wide, in float32. */
export function kvCacheRowBytes(layers: number, positions: number, width: number): number {
  return 2 * layers * positions * width * 4;
}

/** One row's logits each step: float32 from the backend, float64 log-probabilities in beam search. */
export function logitsRowBytes(vocab: number): number {
  return vocab * (4 + 8);
}

/**
 * Refuses, with the numbers, a decoding of `rows` rows (beams, or prompts decoded together) whose
 * weights and per-row bytes exceed `maxMemory` (no check without one: the backends still check
 * each run). `rowsText` says what the rows are, e.g. "64 beams".
 */
export function checkDecodingBudget(rows: number, rowsText: string, bytes: DecodingBytes, maxMemory: number | undefined): void {
  if (maxMemory === undefined) return;
  const total = bytes.weights + rows * bytes.perRow;
  if (total <= maxMemory) return;
  throw new MemoryBudgetError(
    `${rowsText}: ${rows} rows of ${formatBytes(bytes.perRow)} each (KV cache at full length and logits) + ${formatBytes(bytes.weights)} of weights = ${formatBytes(total)}, above the memory budget of ${formatBytes(maxMemory)} (--max-memory)`,
  );
}

/** Bytes of the weights a runner holds. */
export function weightBytes(weights: Weights): number {
  let bytes = 0;
  for (const w of weights.values()) bytes += w.data.byteLength;
  return bytes;
}

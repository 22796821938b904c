import { ModelInputError } from '../errors.ts';
import type { Prng } from './prng.ts';

/**
 * How to choose the next token from logits. Greedy (argmax) unless a temperature > 0 is given; then
 * top-k keeps the k most likely tokens, top-p the smallest set whose probability reaches p (both
 * after temperature, as Hugging Face applies them), and a token is drawn from the rest.
 */
export interface SamplingOptions {
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
}

export function validateSampling(o: SamplingOptions): void {
  if (o.temperature !== undefined && !(o.temperature >= 0 && Number.isFinite(o.temperature))) throw new ModelInputError(`temperature must be a finite number >= 0, got ${o.temperature}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 1)) throw new ModelInputError(`top-k must be a positive integer, got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new ModelInputError(`top-p must be in (0, 1], got ${o.topP}`);
}

/** Whether the options ask for sampling (any temperature > 0, or top-k / top-p, which imply temperature 1). */
export function isSampling(o: SamplingOptions): boolean {
  if (o.temperature !== undefined) return o.temperature > 0;
  return o.topK !== undefined || o.topP !== undefined;
}

/** Index of the largest logit; the first one on ties (as torch.argmax). */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** Picks the next token: greedy, or sampled with `rng`. */
export function pickToken(logits: ArrayLike<number>, options: SamplingOptions, rng: Prng): number {
  if (!isSampling(options)) return argmax(logits);
  const temperature = options.temperature ?? 1;
  // candidates, most likely first; sorting by index too keeps the order deterministic on ties
  let order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
  if (options.topK !== undefined) order = order.slice(0, options.topK);
  const max = logits[order[0]!]!;
  let probs = order.map((i) => Math.exp((logits[i]! - max) / temperature));
  let total = probs.reduce((s, p) => s + p, 0);
  if (options.topP !== undefined && options.topP < 1) {
    // keep tokens while the mass before them is below p: the smallest prefix reaching p (at least one)
    let mass = 0;
    let keep = 0;
    while (keep < order.length && (keep === 0 || mass < options.topP * total)) mass += probs[keep++]!;
    order = order.slice(0, keep);
    probs = probs.slice(0, keep);
    total = mass;
  }
  let r = rng.next() * total;
  for (let i = 0; i < order.length; i++) {
    r -= probs[i]!;
    if (r < 0) return order[i]!;
  }
  return order[order.length - 1]!;
}

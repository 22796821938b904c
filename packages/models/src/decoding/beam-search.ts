import { ModelInputError } from '../errors.ts';
import { checkBeams } from './decoding-budget.ts';
import { usingDecoder, type StepDecoder } from './step.ts';

export interface BeamSearchOptions {
  /** K: hypotheses kept per step. */
  readonly beams: number;
  readonly maxNewTokens: number;
  /** A hypothesis's score is its summed log-probability / (generated length ^ lengthPenalty); default 1. */
  readonly lengthPenalty?: number;
  /** The end token: a hypothesis that produces it is finished (null: none is). */
  readonly stopAt: number | null;
  /**
   * Changes a row's log-probabilities before the search ranks them (step counts new tokens from 1),
   * e.g. -Infinity for tokens never generated: Hugging Face's logits processors in beam search.
   */
  readonly adjust?: (logProbs: Float64Array, step: number) => void;
}

interface Candidate {
  readonly beam: number;
  readonly token: number;
  readonly logProb: number;
}

/** log softmax of float32 logits, in float64. */
function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const log = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - log);
}

/**
 * The `n` best tokens of one row of scores, best first, ranked as sorting the whole row would rank
 * them (higher score first, then the lower token): the search only ever keeps 2K candidates, so
 * each row gives at most 2K, not its whole vocabulary (K x V objects a step).
 */
function topTokens(scores: Float64Array, n: number): number[] {
  const before = (a: number, b: number) => scores[b]! - scores[a]! || a - b;
  const best: number[] = [];
  for (let token = 0; token < scores.length; token++) {
    if (best.length === n && !(before(token, best[n - 1]!) < 0)) continue;
    let at = best.length;
    while (at > 0 && before(token, best[at - 1]!) < 0) at--;
    best.splice(at, 0, token);
    if (best.length > n) best.pop();
  }
  return best;
}

/**
 * Beam search for one prompt (as Hugging Face's `num_beams` with early_stopping false): K
 * hypotheses are decoded as K rows of one batch; each step scores every continuation of every live
 * hypothesis, keeps the best 2K, sets aside those that end (the end token among the best K) as
 * finished with score logP / length^lengthPenalty, and continues the best K others, permuting the
 * decoder's rows (and KV caches) to follow them. It stops when K hypotheses are finished and no live
 * one can still beat the worst of them at its current length, or after maxNewTokens. Returns the
 * prompt and the best hypothesis's tokens (the end token included when it ended).
 */
export async function beamSearch(decoder: StepDecoder, prompt: readonly number[], options: BeamSearchOptions): Promise<number[]> {
  const k = options.beams;
  checkBeams(k);
  const penalty = options.lengthPenalty ?? 1;
  if (!Number.isFinite(penalty)) throw new ModelInputError(`length penalty must be a finite number, got ${penalty}`);
  if (options.maxNewTokens <= 0) return [...prompt];
  if (!decoder.reorder) throw new ModelInputError('beam search needs a decoder that can reorder its rows');
  const normalized = (logProb: number, length: number) => logProb / Math.pow(length, penalty);
  const finished: { tokens: number[]; score: number }[] = [];
  let tokens: number[][] = Array.from({ length: k }, () => []);
  // only the first row is live at the start: the K rows hold the same prompt
  let scores = Array.from({ length: k }, (_, b) => (b === 0 ? 0 : -Infinity));
  let logits = await decoder.prefill(Array.from({ length: k }, () => prompt));
  for (let step = 1; ; step++) {
    const candidates: Candidate[] = [];
    logits.forEach((row, beam) => {
      if (scores[beam] === -Infinity) return;
      const lp = logSoftmax(row);
      options.adjust?.(lp, step);
      for (let token = 0; token < lp.length; token++) lp[token] = scores[beam]! + lp[token]!;
      for (const token of topTokens(lp, 2 * k)) candidates.push({ beam, token, logProb: lp[token]! });
    });
    candidates.sort((a, b) => b.logProb - a.logProb || a.beam - b.beam || a.token - b.token);
    const next: Candidate[] = [];
    for (const [rank, c] of candidates.slice(0, 2 * k).entries()) {
      if (c.token === options.stopAt) {
        if (rank < k) finished.push({ tokens: [...tokens[c.beam]!, c.token], score: normalized(c.logProb, step) });
        continue;
      }
      next.push(c);
      if (next.length === k) break;
    }
    const best = finished.sort((a, b) => b.score - a.score).slice(0, k);
    const worstKept = best.length === k ? best[k - 1]!.score : -Infinity;
    const bestLive = next.length > 0 ? normalized(next[0]!.logProb, step) : -Infinity;
    if (next.length === 0 || worstKept >= bestLive) break;
    if (step === options.maxNewTokens) {
      for (const c of next) finished.push({ tokens: [...tokens[c.beam]!, c.token], score: normalized(c.logProb, step) });
      break;
    }
    // fewer than K live candidates (a tiny vocabulary): the spare rows repeat the first, dead
    const order = Array.from({ length: k }, (_, r) => next[r]?.beam ?? next[0]!.beam);
    await decoder.reorder(order);
    tokens = order.map((_, r) => [...tokens[next[r]?.beam ?? next[0]!.beam]!, (next[r] ?? next[0]!).token]);
    scores = order.map((_, r) => (next[r] ? next[r]!.logProb : -Infinity));
    logits = await decoder.step(order.map((_, r) => (next[r] ?? next[0]!).token));
  }
  finished.sort((a, b) => b.score - a.score);
  return [...prompt, ...finished[0]!.tokens];
}

/** Beam search for each input (a prompt, a source) on a decoder of its own, whose rows are its beams. */
export async function beamSearchEach<T>(inputs: readonly T[], decoderFor: (input: T) => StepDecoder, prefixOf: (input: T) => readonly number[], options: BeamSearchOptions): Promise<number[][]> {
  const out: number[][] = [];
  for (const input of inputs) out.push(await usingDecoder(decoderFor(input), (decoder) => beamSearch(decoder, prefixOf(input), options)));
  return out;
}

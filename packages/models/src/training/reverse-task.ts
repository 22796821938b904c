import type { NDArray } from '@loom/graph';
import type { CharVocab } from '../tokenizers/char-vocab.ts';

/**
 * The string-reversing task the shipped model is trained on: random strings over the model's
 * characters, each of a length drawn uniformly from 1 to maxLen; the source is the string, the
 * target its reversal, between BOS and EOS. Batches are padded (PAD = the vocabulary's pad id) to
 * their longest row, rounded up to a multiple of 8 so that a run sees few distinct shapes.
 */
export interface ReverseBatch {
  readonly texts: readonly string[];
  /** Source ids [B, S]. */
  readonly src: NDArray;
  /** Decoder input: BOS + reversed ids [B, T]. */
  readonly tgtIn: NDArray;
  /** What the decoder predicts: reversed ids + EOS [B, T], PAD where nothing is predicted. */
  readonly tgtOut: NDArray;
  /** Target tokens predicted (the EOS included). */
  readonly tokens: number;
}

/**
 * A seeded generator (xorshift32) whose whole state is one 32-bit number, so a checkpoint can store
 * it and a resumed run draws the same strings as one never stopped.
 */
export class TaskRandom {
  constructor(private state: number) {
    this.state = state >>> 0 || 0x9e3779b9;
  }

  /** A float in [0, 1). */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 2 ** 32;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  save(): string {
    return String(this.state);
  }

  static restore(saved: string): TaskRandom {
    const state = Number(saved);
    if (!Number.isInteger(state) || state < 0 || state >= 2 ** 32) throw new RangeError(`not a generator state: '${saved}'`);
    return new TaskRandom(state);
  }
}

/** A random string of `length` characters of `chars`. */
export function randomText(random: TaskRandom, chars: string, length: number): string {
  const table = [...chars];
  let text = '';
  for (let i = 0; i < length; i++) text += table[random.int(0, table.length - 1)]!;
  return text;
}

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/** The padded batch of `texts` (the texts themselves, not drawn). */
export function reverseBatch(vocab: CharVocab, texts: readonly string[], sourceEos = false): ReverseBatch {
  const rows = texts.map((t) => vocab.encode(t));
  const srcLen = roundUp(Math.max(...rows.map((r) => r.length + (sourceEos ? 1 : 0))), 8);
  const tgtLen = roundUp(Math.max(...rows.map((r) => r.length + 1)), 8);
  const src = new Int32Array(rows.length * srcLen).fill(vocab.pad);
  const tgtIn = new Int32Array(rows.length * tgtLen).fill(vocab.pad);
  const tgtOut = new Int32Array(rows.length * tgtLen).fill(vocab.pad);
  let tokens = 0;
  rows.forEach((ids, b) => {
    const reversed = [...ids].reverse();
    src.set(sourceEos ? [...ids, vocab.eos] : ids, b * srcLen);
    tgtIn.set([vocab.bos, ...reversed], b * tgtLen);
    tgtOut.set([...reversed, vocab.eos], b * tgtLen);
    tokens += reversed.length + 1;
  });
  const i32 = (data: Int32Array, len: number): NDArray => ({ dtype: 'i32', shape: [rows.length, len], data });
  return { texts, src: i32(src, srcLen), tgtIn: i32(tgtIn, tgtLen), tgtOut: i32(tgtOut, tgtLen), tokens };
}

/** How far a batch's string lengths spread below its longest: rows padded to the longest waste little. */
export const BUCKET_SPREAD = 7;

/**
 * `size` random strings as a batch: a longest length L drawn uniformly from 1 to maxLen, then each
 * string's length uniformly from L - BUCKET_SPREAD to L. Every length from 1 to maxLen is drawn about
 * as often, and a batch's rows are nearly equally long, so padding costs little.
 */
export function drawReverseBatch(vocab: CharVocab, random: TaskRandom, size: number, maxLen: number, sourceEos = false): ReverseBatch {
  const longest = random.int(1, maxLen);
  return reverseBatch(vocab, Array.from({ length: size }, () => randomText(random, vocab.chars, random.int(Math.max(1, longest - BUCKET_SPREAD), longest))), sourceEos);
}

/**
 * Held-out strings for evaluation: drawn from their own seed (never the training stream's), of every
 * length from 1 to maxLen in turn, so that the long ones are measured as often as the short.
 */
export function heldOutTexts(chars: string, count: number, maxLen: number, seed = 20261206): string[] {
  const random = new TaskRandom(seed);
  return Array.from({ length: count }, (_, i) => randomText(random, chars, 1 + (i % maxLen)));
}

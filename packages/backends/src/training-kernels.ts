import { DROPOUT_CONSTANTS } from '@loom/graph';

/**
 * What the GPU renderers (WGSL and GLSL) of the training ops share: their sizes from the resolved
 * shapes, the loss formula of softmax_cross_entropy, the dropout threshold and scale, and the
 * dropout hash itself, printed for either language from @loom/graph's constants through a small
 * per-language syntax (as expr/helpers.ts prints the accuracy helpers), so that both draw the mask
 * of the reference bit for bit.
 */

const product = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

/** scatter_add(indices [...idx], updates [...idx, ...rest]) -> [rows, ...rest], as row counts. */
export interface ScatterAddSizes {
  /** Positions: elements of the indices. */
  readonly positions: number;
  /** Elements of one row (the product of `rest`). */
  readonly width: number;
  /** Rows of the table. */
  readonly rows: number;
}

export function scatterAddSizes(indices: readonly number[], updates: readonly number[], output: readonly number[]): ScatterAddSizes {
  return { positions: product(indices), width: product(updates.slice(indices.length)), rows: output[0]! };
}

/** softmax_cross_entropy(logits [..., V], labels [...]): rows of V classes. */
export function crossEntropySizes(logits: readonly number[]): { readonly rows: number; readonly classes: number } {
  const classes = logits[logits.length - 1]!;
  return { rows: product(logits.slice(0, -1)), classes };
}

/**
 * The loss of one row from its statistics (expressions in either language): log(sum of exp(x - max))
 * + (1 - s)(max - x[label]) + s/V sum of (max - x). Equal to logsumexp(x) - ((1 - s) x[label] + s/V
 * sum(x)), the reference's formula, but as a sum of non-negative terms: no cancellation between a
 * large logsumexp and a large logit in float32.
 */
export function crossEntropyLoss(row: { sumExp: string; labelGap: string; gaps: string }, smoothing: number, classes: number, literal: (v: number) => string): string {
  const terms = [`log(${row.sumExp})`];
  if (smoothing < 1) terms.push(`${literal(1 - smoothing)} * (${row.labelGap})`);
  if (smoothing > 0) terms.push(`${literal(smoothing / classes)} * ${row.gaps}`);
  return terms.join(' + ');
}

/** The hash's modulus: its values are 24-bit. */
export const HASH_MOD = 2 ** 24;

/**
 * The hash value from which dropout with drop probability p keeps an element: the reference keeps
 * it when hash >= p * 2^24, that is (the hash being an integer) when hash >= ceil(p * 2^24), an
 * integer float32 holds exactly (unlike p itself).
 */
export function dropoutThreshold(p: number): number {
  return Math.ceil(p * HASH_MOD);
}

/** How a GPU language holds the hash's 24-bit words and spells their arithmetic. */
export interface Word24Syntax {
  /** A function of words returning a word. */
  fn(name: string, params: readonly string[], body: readonly string[]): string;
  /** A mutable word. */
  var(name: string, value: string): string;
  literal(n: number): string;
  /** (a + b) mod 2^24 */
  add(a: string, b: string): string;
  /** (a * b) mod 2^24 */
  mul(a: string, b: string): string;
  /** floor(x / 2^11) */
  shr11(x: string): string;
  /** Functions `add` and `mul` call (GLSL's limb arithmetic), printed before the hash. */
  readonly helpers: readonly string[];
}

/**
 * The helper functions computing `loom_dropout_hash(seed24, stream, lo, hi)`: @loom/graph's
 * dropoutHash of (seed, stream, index) with seed24 = seed mod 2^24, lo = index mod 2^24 and
 * hi = floor(index / 2^24), which the kernel computes in its own integer arithmetic.
 */
export function dropoutHashHelpers(s: Word24Syntax): string[] {
  const k = DROPOUT_CONSTANTS;
  const body = [
    s.var('x', s.add('lo', s.mul('seed24', s.literal(k.seedMul)))),
    `x = ${s.add('x', s.mul(s.add('hi', 'stream'), s.literal(k.streamMul)))};`,
    ...k.rounds.flatMap((m, r) => [`x = ${s.add(s.mul('x', s.literal(m)), s.literal(k.adds[r]!))};`, `x = ${s.add('x', s.shr11('x'))};`]),
    'return x;',
  ];
  return [...s.helpers, s.fn('loom_dropout_hash', ['seed24', 'stream', 'lo', 'hi'], body)];
}

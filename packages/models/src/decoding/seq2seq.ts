import { ModelInputError } from '../errors.ts';
import { beamSearchEach } from './beam-search.ts';
import { checkBeams, checkDecodingBudget, type DecodingBytes } from './decoding-budget.ts';
import { Prng } from './prng.ts';
import { isSampling, pickToken, validateSampling, type SamplingOptions } from './sampling.ts';
import { decodeLoop, usingDecoder, type StepDecoder } from './step.ts';

/**
 * What decoding needs of an encoder-decoder model, whatever builds it (TransformerRunner runs
 * Marian and the reverse model): its target positions, a step decoder for a batch of sources, and
 * the memory a decoding holds.
 */
export interface EncoderDecoderLm {
  /** The longest target, start token included. */
  readonly maxPositions: number;
  /** A step decoder for these source rows, with the KV cache (default) or recomputing the target prefix; one source row serves a batch of any size (beams). */
  decoder(sources: readonly (readonly number[])[], kvCache?: boolean): StepDecoder;
  /** What decoding a source of `sourceLength` tokens holds: the weights, and per row its caches and logits. */
  decodingBytes(sourceLength: number): DecodingBytes;
}

export interface TranslateOptions extends SamplingOptions {
  /** The decoder's first token (BOS; Marian starts from its pad id, config.json's decoder_start_token_id). */
  readonly start: number;
  /** A row ends at this token, which is kept (null: rows run to maxNewTokens). */
  readonly eos: number | null;
  /** New tokens per row at most (the start token not counted). */
  readonly maxNewTokens: number;
  /** Beam search with this many beams per source (default 1: greedy). */
  readonly beams?: number;
  /** Beam search: a hypothesis scores logP / length^lengthPenalty (default 1). */
  readonly lengthPenalty?: number;
  /** Decode with the KV cache (default true); false recomputes the target prefix every step. */
  readonly kvCache?: boolean;
  /** Tokens never generated (Hugging Face's single-token bad_words_ids, e.g. Marian's pad). */
  readonly suppress?: readonly number[];
  /** The last allowed new token is this one (Hugging Face's forced_eos_token_id). */
  readonly forcedEos?: number | null;
  /** Seed of the sampler's PRNG (with temperature / top-k / top-p); the same seed gives the same ids. */
  readonly seed?: number;
  /**
   * Bytes the decoding may hold: the weights, and per row (each source, or each beam) its caches
   * and logits. Over it, a MemoryBudgetError before the first run (without it, only the backend's
   * own checks apply).
   */
  readonly maxMemory?: number;
}

/**
 * Encoder-decoder decoding of a batch of source rows: greedy or sampled (temperature, top-k, top-p
 * from one seeded PRNG, drawn in row order; all rows together, each stopping at its own end token)
 * or beam search (one source at a time, its beams as one batch). Returns per row the start token,
 * the generated tokens, and the end token when the row reached it.
 */
export async function translate(model: EncoderDecoderLm, sources: readonly (readonly number[])[], options: TranslateOptions): Promise<number[][]> {
  validateSampling(options);
  if (sources.length === 0) return [];
  const { maxNewTokens } = options;
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 0)) throw new ModelInputError(`max-new-tokens must be a non-negative integer, got ${maxNewTokens}`);
  if (1 + maxNewTokens > model.maxPositions) throw new ModelInputError(`the start token plus ${maxNewTokens} new tokens is longer than the model's ${model.maxPositions} target positions`);
  const suppressed = options.suppress ?? [];
  const forcedEos = options.forcedEos ?? null;
  // the same rule on logits (greedy) and on log-probabilities (beam search): -Infinity is never chosen
  const adjust = (scores: Float32Array | Float64Array, step: number) => {
    for (const token of suppressed) scores[token] = -Infinity;
    if (forcedEos !== null && step === maxNewTokens) {
      for (let t = 0; t < scores.length; t++) if (t !== forcedEos) scores[t] = -Infinity;
    }
  };
  const kvCache = options.kvCache ?? true;
  const beams = options.beams ?? 1;
  checkBeams(beams);
  // beam search decodes one source at a time, its beams as the batch; otherwise the sources are the batch
  const rows = beams > 1 ? beams : sources.length;
  const longest = sources.reduce((most, s) => Math.max(most, s.length), 0);
  checkDecodingBudget(rows, beams > 1 ? `${beams} beams` : `${rows} source${rows === 1 ? '' : 's'}`, model.decodingBytes(longest), options.maxMemory);
  if (beams !== 1) {
    if (isSampling(options)) throw new ModelInputError('beam search is deterministic: it takes no --temperature, --top-k or --top-p');
    const search = { beams, maxNewTokens, stopAt: options.eos, adjust, ...(options.lengthPenalty !== undefined ? { lengthPenalty: options.lengthPenalty } : {}) };
    return beamSearchEach(sources, (source) => model.decoder([source], kvCache), () => [options.start], search);
  }
  const rng = new Prng(options.seed ?? 0);
  return usingDecoder(model.decoder(sources, kvCache), (decoder) =>
    decodeLoop(decoder, sources.map(() => [options.start]), {
      maxNewTokens,
      stopAt: options.eos,
      pick: (logits, _, step) => {
        adjust(logits, step);
        return pickToken(logits, options, rng);
      },
      filler: options.eos ?? options.start,
    }),
  );
}

export interface GreedyOptions {
  readonly bos: number;
  readonly eos: number;
  /** The longest target, BOS and EOS included (default: the model's maxPositions). */
  readonly maxLen?: number;
  /** Decode with the KV cache (default true). */
  readonly kvCache?: boolean;
}

/**
 * Greedy encoder-decoder decoding of a batch of source rows. Each row starts from BOS and stops at
 * its own EOS (kept in the output) or at maxLen tokens; the result is BOS ... EOS per row.
 */
export function greedyDecode(model: EncoderDecoderLm, sources: readonly (readonly number[])[], options: GreedyOptions): Promise<number[][]> {
  const maxLen = Math.min(options.maxLen ?? model.maxPositions, model.maxPositions);
  return translate(model, sources, { start: options.bos, eos: options.eos, maxNewTokens: maxLen - 1, ...(options.kvCache !== undefined ? { kvCache: options.kvCache } : {}) });
}

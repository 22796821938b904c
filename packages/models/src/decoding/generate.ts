import { ModelInputError } from '../errors.ts';
import type { CausalLm } from './causal-lm.ts';
import { beamSearchEach } from './beam-search.ts';
import { checkBeams, checkDecodingBudget } from './decoding-budget.ts';
import { Prng } from './prng.ts';
import { isSampling, pickToken, validateSampling, type SamplingOptions } from './sampling.ts';
import { decodeLoop, usingDecoder } from './step.ts';

export interface GenerateOptions extends SamplingOptions {
  readonly maxNewTokens: number;
  /** Seed of the sampler's PRNG; the same seed gives the same text. */
  readonly seed?: number;
  /** Stop a row at this token (default: the config's eos_token_id; null never stops early). */
  readonly stopAt?: number | null;
  /** Decode with the KV cache (default true); false recomputes the prefix every step. */
  readonly kvCache?: boolean;
  /** Beam search with this many beams per prompt (default 1: greedy or sampling). */
  readonly beams?: number;
  /** Beam search: a hypothesis scores logP / length^lengthPenalty (default 1). */
  readonly lengthPenalty?: number;
  /** Called with each new token of each row as it is chosen (not in beam search, which decides at the end). */
  readonly onToken?: (row: number, token: number) => void;
  /**
   * Bytes the decoding may hold: the weights, and per row (each prompt, or each beam) its KV cache
   * and logits. Over it, a MemoryBudgetError before the first run (without it, only the backend's
   * own checks apply).
   */
  readonly maxMemory?: number;
}

/**
 * Generation with any causal LM (GPT-2, the Llama family) for a batch of prompts of different lengths: greedy by default, or temperature /
 * top-k / top-p sampling from one seeded PRNG (drawn in row order each step, so results are
 * reproducible). Returns prompt + continuation per row.
 */
export async function generate(model: CausalLm, prompts: readonly (readonly number[])[], options: GenerateOptions): Promise<number[][]> {
  validateSampling(options);
  if (!(Number.isInteger(options.maxNewTokens) && options.maxNewTokens >= 0)) throw new ModelInputError(`max-new-tokens must be a non-negative integer, got ${options.maxNewTokens}`);
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new ModelInputError(`prompt ${i + 1} is empty; a language model needs at least one token to continue`);
  });
  model.check(prompts);
  const longest = prompts.reduce((most, p) => Math.max(most, p.length), 0);
  if (longest + options.maxNewTokens > model.maxPositions) {
    throw new ModelInputError(`prompt of ${longest} tokens plus ${options.maxNewTokens} new tokens is longer than the model's ${model.maxPositions} positions`);
  }
  const beams = options.beams ?? 1;
  checkBeams(beams);
  // beam search decodes one prompt at a time, its beams as the batch; otherwise the prompts are the batch
  const rows = beams > 1 ? beams : prompts.length;
  checkDecodingBudget(rows, beams > 1 ? `${beams} beams` : `${rows} prompt${rows === 1 ? '' : 's'}`, model.decodingBytes(), options.maxMemory);
  const rng = new Prng(options.seed ?? 0);
  const stopAt = options.stopAt === undefined ? model.eosTokenId : options.stopAt;
  if (beams !== 1) {
    if (isSampling(options)) throw new ModelInputError('beam search is deterministic: it takes no --temperature, --top-k or --top-p');
    const search = { beams, maxNewTokens: options.maxNewTokens, stopAt, ...(options.lengthPenalty !== undefined ? { lengthPenalty: options.lengthPenalty } : {}) };
    return beamSearchEach(prompts, () => model.decoder(options.kvCache ?? true), (prompt) => prompt, search);
  }
  return usingDecoder(model.decoder(options.kvCache ?? true), (decoder) =>
    decodeLoop(decoder, prompts, {
      maxNewTokens: options.maxNewTokens,
      stopAt,
      pick: (logits) => pickToken(logits, options, rng),
      filler: stopAt ?? 0,
      ...(options.onToken ? { onToken: options.onToken } : {}),
    }),
  );
}

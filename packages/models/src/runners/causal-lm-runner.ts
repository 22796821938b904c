import type { Backend } from '@loom/backends';
import type { NDArray, Weights } from '@loom/graph';
import type { CausalLm } from '../decoding/causal-lm.ts';
import { kvCacheRowBytes, logitsRowBytes, weightBytes, type DecodingBytes } from '../decoding/decoding-budget.ts';
import { DecoderPool } from '../decoding/decoder-pool.ts';
import { KvCacheDecoder, type CachedPlans } from '../decoding/kv-cache-decoder.ts';
import { RecomputeDecoder, type StepDecoder } from '../decoding/step.ts';
import type { CausalLmFamily, CausalLmLimits } from '../families/family.ts';
import { gpt2Family } from '../families/gpt2.ts';
import { llamaFamily } from '../families/llama.ts';
import type { Gpt2Config } from '../gpt2/config.ts';
import type { LlamaConfig } from '../llama/config.ts';
import { checkTokenRows } from '../runtime/check-ids.ts';
import { bucketedWidth, GraphRunner, padBatch, rowOf } from '../runtime/graph-runner.ts';

/** Filler id at padded positions; any id in the vocabulary does, the attention mask hides it. */
const PAD = 0;

/**
 * A causal LM of any family on a backend: the family's record gives its graphs and limits. Batches
 * of different lengths are right-padded with an attention_mask, so every token keeps the position it
 * has alone and the real positions compute exactly what they would unbatched. The last-position
 * graph is prepared on first use, the full-sequence one (logits at every position) when first asked.
 */
export class CausalLmRunner<C = unknown> implements CausalLm {
  /** The model_type, e.g. 'gpt2', 'qwen2', for messages. */
  readonly family: string;
  private readonly limits: CausalLmLimits;
  private full: GraphRunner | undefined;
  private readonly last: GraphRunner;
  /** KV-cache decoders kept between decodings with their prepared plans (decoder-pool.ts). */
  private readonly cachedDecoders = new DecoderPool(() => new KvCacheDecoder(cachedPlans(this.modelFamily, this.cfg), this.weights, this.backend));

  constructor(
    readonly modelFamily: CausalLmFamily<C>,
    readonly cfg: C,
    private readonly weights: Weights,
    readonly backend: Backend,
  ) {
    this.family = modelFamily.kind(cfg);
    this.limits = modelFamily.limits(cfg);
    this.last = new GraphRunner(backend, modelFamily.build(cfg, { attentionMask: true, lastOnly: true }), weights);
  }

  get vocabSize(): number {
    return this.limits.vocabSize;
  }

  get maxPositions(): number {
    return this.limits.maxPositions;
  }

  get eosTokenId(): number | null {
    return this.limits.eosTokenId;
  }

  /** Throws a ModelInputError for ids outside the vocabulary or rows longer than the positions. */
  check(rows: readonly (readonly number[])[]): void {
    checkTokenRows(rows, this.vocabSize, this.maxPositions, 'prompt');
  }

  /** logits [B, T, V] for rows right-padded to T (rows at padded positions are meaningless). */
  async logits(rows: readonly (readonly number[])[]): Promise<NDArray> {
    this.check(rows);
    this.full ??= new GraphRunner(this.backend, this.modelFamily.build(this.cfg, { attentionMask: true }), this.weights);
    const { ids, mask } = padBatch(rows, PAD);
    return (await this.full.run({ input_ids: ids, attention_mask: mask }))['logits']!;
  }

  /** Each row's next-token logits [V] (from its last real token). */
  async nextLogits(rows: readonly (readonly number[])[]): Promise<Float32Array[]> {
    this.check(rows);
    const { ids, mask } = padBatch(rows, PAD, bucketedWidth(this.backend, this.maxPositions));
    const logits = (await this.last.run({ input_ids: ids, attention_mask: mask }))['logits']!; // (B, 1, V)
    return rows.map((_, b) => rowOf(logits, b));
  }

  /** With the KV cache (default) each step feeds one token per row; without, each step recomputes the prefix. */
  decoder(kvCache = true): StepDecoder {
    return kvCache ? this.cachedDecoders.take() : new RecomputeDecoder((rows) => this.nextLogits(rows));
  }

  decodingBytes(): DecodingBytes {
    const l = this.limits;
    return { weights: weightBytes(this.weights), perRow: kvCacheRowBytes(l.cacheLayers, l.maxPositions, l.cacheWidth) + logitsRowBytes(l.vocabSize) };
  }

  async dispose(): Promise<void> {
    await Promise.all([this.last.dispose(), this.full?.dispose(), this.cachedDecoders.dispose()]);
  }
}

/** A causal LM's KV-cache graphs, for KvCacheDecoder. */
export function cachedPlans<C>(family: CausalLmFamily<C>, cfg: C): CachedPlans {
  const { vocabSize, maxPositions } = family.limits(cfg);
  return { vocabSize, maxPositions, build: (seq) => family.buildCached(cfg, seq), bucketed: true };
}

/** GPT-2 on a backend: the causal-LM runner of the gpt2 family. */
export class Gpt2Runner extends CausalLmRunner<Gpt2Config> {
  constructor(cfg: Gpt2Config, weights: Weights, backend: Backend) {
    super(gpt2Family, cfg, weights, backend);
  }
}

/** A Llama-family model (Llama, Mistral, Qwen2) on a backend: the causal-LM runner of the llama family. */
export class LlamaRunner extends CausalLmRunner<LlamaConfig> {
  constructor(cfg: LlamaConfig, weights: Weights, backend: Backend) {
    super(llamaFamily, cfg, weights, backend);
  }
}

/** GPT-2's KV-cache graphs, for KvCacheDecoder. */
export const gpt2CachedPlans = (cfg: Gpt2Config): CachedPlans => cachedPlans(gpt2Family, cfg);

/** The Llama family's KV-cache graphs, for KvCacheDecoder. */
export const llamaCachedPlans = (cfg: LlamaConfig): CachedPlans => cachedPlans(llamaFamily, cfg);

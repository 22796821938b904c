import type { Backend } from '@loom/backends';
import type { NDArray, Weights } from '@loom/graph';
import { RecomputeDecoder, type StepDecoder } from '../decoding/step.ts';
import type { CausalLm } from '../decoding/causal-lm.ts';
import { kvCacheRowBytes, logitsRowBytes, weightBytes, type DecodingBytes } from '../decoding/decoding-budget.ts';
import { KvCacheDecoder, type CachedPlans } from '../decoding/kv-cache-decoder.ts';
import { buildCachedGpt2 } from './cached-model.ts';
import { checkTokenRows } from '../runtime/check-ids.ts';
import { GraphRunner, padBatch, rowOf } from '../runtime/graph-runner.ts';
import type { Gpt2Config } from './config.ts';
import { buildGpt2 } from './model.ts';

/** Filler id at padded positions; any id in the vocabulary does, the attention mask hides it. */
const PAD = 0;

/**
 * GPT-2 on a backend. Batches of different lengths are right-padded with an attention_mask, so every
 * token keeps the position it has alone and the real positions compute exactly what they would unbatched.
 */
export class Gpt2Runner implements CausalLm {
  readonly family = 'gpt2';
  private full: GraphRunner | undefined;
  private readonly last: GraphRunner;

  constructor(
    readonly cfg: Gpt2Config,
    private readonly weights: Weights,
    readonly backend: Backend,
  ) {
    this.last = new GraphRunner(backend, buildGpt2(cfg, { attentionMask: true, lastOnly: true }), weights);
  }

  get vocabSize(): number {
    return this.cfg.vocabSize;
  }

  get maxPositions(): number {
    return this.cfg.nPositions;
  }

  get eosTokenId(): number | null {
    return this.cfg.eosTokenId;
  }

  /** Throws a ModelInputError for ids outside the vocabulary or rows longer than n_positions. */
  check(rows: readonly (readonly number[])[]): void {
    checkTokenRows(rows, this.cfg.vocabSize, this.cfg.nPositions, 'prompt');
  }

  /** logits [B, T, V] for rows right-padded to T (rows at padded positions are meaningless). */
  async logits(rows: readonly (readonly number[])[]): Promise<NDArray> {
    this.check(rows);
    this.full ??= new GraphRunner(this.backend, buildGpt2(this.cfg, { attentionMask: true }), this.weights);
    const { ids, mask } = padBatch(rows, PAD);
    return (await this.full.run({ input_ids: ids, attention_mask: mask }))['logits']!;
  }

  /** Each row's next-token logits [V] (from its last real token). */
  async nextLogits(rows: readonly (readonly number[])[]): Promise<Float32Array[]> {
    this.check(rows);
    const { ids, mask } = padBatch(rows, PAD);
    const logits = (await this.last.run({ input_ids: ids, attention_mask: mask }))['logits']!; // (B, 1, V)
    return rows.map((_, b) => rowOf(logits, b));
  }

  /**
   * A step decoder for generation: with the KV cache (default) each step feeds one token per row to a
   * decode plan that keeps keys and values in the backend; without it each step recomputes the prefix.
   */
  decoder(kvCache = true): StepDecoder {
    return kvCache ? new KvCacheDecoder(gpt2CachedPlans(this.cfg), this.weights, this.backend) : new RecomputeDecoder((rows) => this.nextLogits(rows));
  }

  decodingBytes(): DecodingBytes {
    const c = this.cfg;
    return { weights: weightBytes(this.weights), perRow: kvCacheRowBytes(c.nLayer, c.nPositions, c.nEmbd) + logitsRowBytes(c.vocabSize) };
  }

  async dispose(): Promise<void> {
    await Promise.all([this.last.dispose(), this.full?.dispose()]);
  }
}

/** GPT-2's KV-cache graphs, for KvCacheDecoder. */
export function gpt2CachedPlans(cfg: Gpt2Config): CachedPlans {
  return { vocabSize: cfg.vocabSize, maxPositions: cfg.nPositions, build: (seq) => buildCachedGpt2(cfg, { seq }) };
}

import type { Backend } from '@loom/backends';
import type { NDArray, Weights } from '@loom/graph';
import type { CausalLm } from '../decoding/causal-lm.ts';
import { kvCacheRowBytes, logitsRowBytes, weightBytes, type DecodingBytes } from '../decoding/decoding-budget.ts';
import { KvCacheDecoder, type CachedPlans } from '../decoding/kv-cache-decoder.ts';
import { RecomputeDecoder, type StepDecoder } from '../decoding/step.ts';
import { checkTokenRows } from '../runtime/check-ids.ts';
import { GraphRunner, padBatch, rowOf } from '../runtime/graph-runner.ts';
import type { LlamaConfig } from './config.ts';
import { buildCachedLlama, buildLlama } from './model.ts';

/** Filler id at padded positions; the attention mask hides it. */
const PAD = 0;

/** A Llama-family model on a backend; batches of different lengths are right-padded with an attention mask. */
export class LlamaRunner implements CausalLm {
  private full: GraphRunner | undefined;
  private readonly last: GraphRunner;

  constructor(
    readonly cfg: LlamaConfig,
    private readonly weights: Weights,
    readonly backend: Backend,
  ) {
    this.last = new GraphRunner(backend, buildLlama(cfg, { attentionMask: true, lastOnly: true }), weights);
  }

  get family(): string {
    return this.cfg.modelType;
  }

  get vocabSize(): number {
    return this.cfg.vocabSize;
  }

  get maxPositions(): number {
    return this.cfg.maxPositions;
  }

  get eosTokenId(): number | null {
    return this.cfg.eosTokenId;
  }

  check(rows: readonly (readonly number[])[]): void {
    checkTokenRows(rows, this.cfg.vocabSize, this.cfg.maxPositions, 'prompt');
  }

  async logits(rows: readonly (readonly number[])[]): Promise<NDArray> {
    this.check(rows);
    this.full ??= new GraphRunner(this.backend, buildLlama(this.cfg, { attentionMask: true }), this.weights);
    const { ids, mask } = padBatch(rows, PAD);
    return (await this.full.run({ input_ids: ids, attention_mask: mask }))['logits']!;
  }

  async nextLogits(rows: readonly (readonly number[])[]): Promise<Float32Array[]> {
    this.check(rows);
    const { ids, mask } = padBatch(rows, PAD);
    const logits = (await this.last.run({ input_ids: ids, attention_mask: mask }))['logits']!;
    return rows.map((_, b) => rowOf(logits, b));
  }

  decoder(kvCache = true): StepDecoder {
    return kvCache ? new KvCacheDecoder(llamaCachedPlans(this.cfg), this.weights, this.backend) : new RecomputeDecoder((rows) => this.nextLogits(rows));
  }

  decodingBytes(): DecodingBytes {
    const c = this.cfg;
    return { weights: weightBytes(this.weights), perRow: kvCacheRowBytes(c.nLayer, c.maxPositions, c.nKvHead * c.headDim) + logitsRowBytes(c.vocabSize) };
  }

  async dispose(): Promise<void> {
    await Promise.all([this.last.dispose(), this.full?.dispose()]);
  }
}

/** The Llama family's KV-cache graphs, for KvCacheDecoder. */
export function llamaCachedPlans(cfg: LlamaConfig): CachedPlans {
  return { vocabSize: cfg.vocabSize, maxPositions: cfg.maxPositions, build: (seq) => buildCachedLlama(cfg, { seq }) };
}

import type { Backend } from '@loom/backends';
import type { NDArray, Weights } from '@loom/graph';
import { kvCacheRowBytes, logitsRowBytes, weightBytes, type DecodingBytes } from '../decoding/decoding-budget.ts';
import { DecoderPool } from '../decoding/decoder-pool.ts';
import { KvCacheDecoder, type CachedPlans } from '../decoding/kv-cache-decoder.ts';
import type { EncoderDecoderLm } from '../decoding/seq2seq.ts';
import { RecomputeDecoder, type StepDecoder } from '../decoding/step.ts';
import { checkTokenRows } from '../runtime/check-ids.ts';
import { bucketedWidth, GraphRunner, padBatch, rowOf, withRows } from '../runtime/graph-runner.ts';
import type { TransformerConfig } from '../transformer/config.ts';
import { buildCachedTransformerDecoder, buildTransformerCrossKv, buildTransformerDecoder, buildTransformerEncoder } from '../transformer/model.ts';

/**
 * An encoder-decoder Transformer on a backend: the encoder graph, the teacher-forced decoder graph,
 * and for decoding either the KV-cache graphs (cross-attention keys and values once per source,
 * then one new token per row per step) or the recomputing last-position decoder; each prepared on
 * first use and reused. It runs every encoder-decoder family (Marian, the reverse model): their
 * records give the TransformerConfig.
 */
export class TransformerRunner implements EncoderDecoderLm {
  private readonly encoder: GraphRunner;
  private decoderLast: GraphRunner | undefined;
  private decoderFull: GraphRunner | undefined;
  private crossKv: GraphRunner | undefined;
  /** KV-cache decoders kept between decodings with their prepared plans (decoder-pool.ts). */
  private readonly cachedDecoders = new DecoderPool(() => new KvCacheDecoder(this.cachedPlans(), this.weights, this.backend));

  constructor(
    readonly cfg: TransformerConfig,
    private readonly weights: Weights,
    readonly backend: Backend,
  ) {
    this.encoder = new GraphRunner(backend, buildTransformerEncoder(cfg), weights);
  }

  /** The longest target, start token included. */
  get maxPositions(): number {
    return this.cfg.maxLen;
  }

  /** Source rows, right-padded with PAD (to the backend's sequence bucket, where it has one), as `src_ids` [B, S]. */
  sourceBatch(rows: readonly (readonly number[])[]): NDArray {
    checkTokenRows(rows, this.cfg.srcVocab, this.cfg.maxLen, 'source');
    return padBatch(rows, this.cfg.padId, bucketedWidth(this.backend, this.cfg.maxLen)).ids;
  }

  /** memory [B, S, D] for src_ids [B, S]. */
  async encode(srcIds: NDArray): Promise<NDArray> {
    return (await this.encoder.run({ src_ids: srcIds }))['memory']!;
  }

  /** Teacher-forced logits [B, T, V] for tgt_ids [B, T] given the memory of src_ids. */
  async logits(memory: NDArray, srcIds: NDArray, tgtIds: NDArray): Promise<NDArray> {
    this.decoderFull ??= new GraphRunner(this.backend, buildTransformerDecoder(this.cfg), this.weights);
    return (await this.decoderFull.run({ memory, src_ids: srcIds, tgt_ids: tgtIds }))['logits']!;
  }

  /** Teacher-forced logits [B, T, V] of target rows (each starting with the decoder start token) for source rows. */
  async teacherForced(sources: readonly (readonly number[])[], targets: readonly (readonly number[])[]): Promise<NDArray> {
    checkTokenRows(targets, this.cfg.tgtVocab, this.cfg.maxLen, 'target');
    const srcIds = this.sourceBatch(sources);
    return this.logits(await this.encode(srcIds), srcIds, padBatch(targets, this.cfg.padId).ids);
  }

  /**
   * A step decoder for these source rows. With the KV cache (default): the cross-attention keys and
   * values are computed once from the source, each step feeds one token per row and appends its
   * self-attention keys and values. Without: the source is encoded once and each step runs the
   * decoder over the whole target prefix. One source row serves a batch of any size (beams).
   */
  decoder(sources: readonly (readonly number[])[], kvCache = true): StepDecoder {
    const srcIds = this.sourceBatch(sources);
    if (kvCache) {
      const crossKv = (this.crossKv ??= new GraphRunner(this.backend, buildTransformerCrossKv(this.cfg), this.weights));
      return this.cachedDecoders.take(async () => ({ src_ids: srcIds, ...(await crossKv.run({ src_ids: srcIds })) }));
    }
    const decoderLast = (this.decoderLast ??= new GraphRunner(this.backend, buildTransformerDecoder(this.cfg, { lastOnly: true }), this.weights));
    let memory: Promise<NDArray> | undefined;
    return new RecomputeDecoder(async (rows) => {
      checkTokenRows(rows, this.cfg.tgtVocab, this.cfg.maxLen, 'target');
      memory ??= this.encode(srcIds);
      const batch = rows.length;
      const tgtIds = padBatch(rows, this.cfg.padId).ids;
      const logits = (await decoderLast.run({ memory: withRows('memory', await memory, batch), src_ids: withRows('src_ids', srcIds, batch), tgt_ids: tgtIds }))['logits']!; // (B, 1, V)
      return rows.map((_, b) => rowOf(logits, b));
    });
  }

  /** What decoding a source of `sourceLength` tokens holds: the weights, and per row its self- and cross-attention caches and its logits. */
  decodingBytes(sourceLength: number): DecodingBytes {
    const c = this.cfg;
    // the cross caches hold the source as padded: to the backend's sequence bucket, where it has one
    const crossLength = bucketedWidth(this.backend, c.maxLen)(sourceLength);
    const caches = kvCacheRowBytes(c.decoderLayers, c.maxLen, c.dModel) + kvCacheRowBytes(c.decoderLayers, crossLength, c.dModel);
    return { weights: weightBytes(this.weights), perRow: caches + logitsRowBytes(c.tgtVocab) };
  }

  /** The cached decoder's graphs, for KvCacheDecoder. */
  cachedPlans(): CachedPlans {
    return { vocabSize: this.cfg.tgtVocab, maxPositions: this.cfg.maxLen, build: (seq) => buildCachedTransformerDecoder(this.cfg, { seq }), bucketed: true };
  }

  async dispose(): Promise<void> {
    await Promise.all([this.encoder.dispose(), this.decoderLast?.dispose(), this.decoderFull?.dispose(), this.crossKv?.dispose(), this.cachedDecoders.dispose()]);
  }
}

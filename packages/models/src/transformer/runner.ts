import type { Backend } from '@loom/backends';
import type { NDArray, Weights } from '@loom/graph';
import { RecomputeDecoder, type StepDecoder } from '../decoding/step.ts';
import { checkTokenRows } from '../runtime/check-ids.ts';
import { GraphRunner, padBatch, rowOf } from '../runtime/graph-runner.ts';
import type { TransformerConfig } from './config.ts';
import { buildTransformerDecoder, buildTransformerEncoder } from './model.ts';

/**
 * An encoder-decoder Transformer on a backend: the encoder graph, the decoder graph, and the
 * decoder's last-position variant for decoding, each prepared once and reused.
 */
export class TransformerRunner {
  private readonly encoder: GraphRunner;
  private readonly decoderLast: GraphRunner;
  private decoderFull: GraphRunner | undefined;

  constructor(
    readonly cfg: TransformerConfig,
    private readonly weights: Weights,
    readonly backend: Backend,
  ) {
    this.encoder = new GraphRunner(backend, buildTransformerEncoder(cfg), weights);
    this.decoderLast = new GraphRunner(backend, buildTransformerDecoder(cfg, { lastOnly: true }), weights);
  }

  /** Source rows, right-padded with PAD, as `src_ids` [B, S]. */
  sourceBatch(rows: readonly (readonly number[])[]): NDArray {
    checkTokenRows(rows, this.cfg.srcVocab, this.cfg.maxLen, 'source');
    return padBatch(rows, this.cfg.padId).ids;
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

  /**
   * A step decoder for these source rows: encodes them once, then each step runs the decoder over the
   * target prefix (all rows share its length: targets start together with BOS and are never padded).
   */
  decoder(sources: readonly (readonly number[])[]): StepDecoder {
    const srcIds = this.sourceBatch(sources);
    let memory: Promise<NDArray> | undefined;
    return new RecomputeDecoder(async (rows) => {
      checkTokenRows(rows, this.cfg.tgtVocab, this.cfg.maxLen, 'target');
      memory ??= this.encode(srcIds);
      const tgtIds = padBatch(rows, this.cfg.padId).ids;
      const logits = (await this.decoderLast.run({ memory: await memory, src_ids: srcIds, tgt_ids: tgtIds }))['logits']!; // (B, 1, V)
      return rows.map((_, b) => rowOf(logits, b));
    });
  }

  async dispose(): Promise<void> {
    await Promise.all([this.encoder.dispose(), this.decoderLast.dispose(), this.decoderFull?.dispose()]);
  }
}

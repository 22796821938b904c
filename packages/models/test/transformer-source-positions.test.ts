/**
 * TransformerConfig.sourcePositions 'from-end' (what `loom train reverse` trains): each source
 * token's position is its distance from its row's last token, PAD excluded; checked on an encoder
 * without layers, whose memory is the embedding times sqrt(D) plus the sinusoid at those positions.
 */
import { cpuBackend } from '@loom/backends';
import { interpret, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { buildTransformerEncoder } from '../src/transformer/model.ts';
import type { TransformerConfig } from '../src/transformer/config.ts';

const D = 8;
const cfg: TransformerConfig = {
  encoderLayers: 0, decoderLayers: 1, dModel: D, heads: 2, dFF: 16, srcVocab: 6, tgtVocab: 6, sharedEmbeddings: false, generatorBias: true,
  norm: 'post', activation: 'relu', maxLen: 16, padId: 0, positional: 'sinusoidal', embedScale: true, eps: 1e-5, sourcePositions: 'from-end',
};
const table = Float64Array.from({ length: 6 * D }, (_, i) => Math.sin(i * 1.7) * 0.5);
const weights = new Map<string, NDArray>([['src_embed', { dtype: 'f32', shape: [6, D], data: table }]]);
// the paper's interleaved sinusoid: even dims sin, odd dims cos, of pos / 10000^(2i/D)
const sinusoid = (pos: number, d: number) => (d % 2 === 0 ? Math.sin : Math.cos)(pos / 10000 ** ((d - (d % 2)) / D));

describe("sourcePositions 'from-end'", () => {
  const ids = Int32Array.from([3, 4, 5, 0, 0, 2, 2, 2, 2, 1]); // rows of 3 and 5 tokens
  const feeds = { src_ids: { dtype: 'i32' as const, shape: [2, 5], data: ids } };
  const lengths = [3, 5];

  it('puts the last token at position 0 and counts up towards the first, in every row', () => {
    const memory = interpret(buildTransformerEncoder(cfg), feeds, weights)['memory']!;
    for (let b = 0; b < 2; b++) {
      for (let j = 0; j < lengths[b]!; j++) {
        for (let d = 0; d < D; d++) {
          const want = table[ids[b * 5 + j]! * D + d]! * Math.sqrt(D) + sinusoid(lengths[b]! - 1 - j, d);
          expect(memory.data[(b * 5 + j) * D + d]).toBeCloseTo(want, 9);
        }
      }
    }
  });

  it('the cpu backend computes the same positions', async () => {
    const graph = buildTransformerEncoder(cfg);
    const model = await cpuBackend.prepare(graph, weights);
    const got = (await model.run(feeds))['memory']!;
    const want = interpret(graph, feeds, weights)['memory']!;
    for (let i = 0; i < 2 * 5 * D; i++) if (ids[Math.floor(i / D)] !== 0) expect(got.data[i]).toBeCloseTo(want.data[i]!, 5);
    model.dispose();
  });
});

/** Marian (marian/): Hugging Face's MarianMTModel checkpoints (OPUS-MT), the encoder-decoder Transformer with their generation rules. */
import { marianConfigFromHf, type MarianConfig } from '../marian/config.ts';
import { buildTransformer } from '../transformer/model.ts';
import { hfMarianMapping, marianWeights } from '../weights/marian-weights.ts';
import type { EncoderDecoderFamily } from './family.ts';
import { transformerSize } from './transformer.ts';

export const marianFamily: EncoderDecoderFamily<MarianConfig> = {
  name: 'marian',
  runs: 'encoder-decoder',
  modelTypes: ['marian'],
  parse: (json, where, generation) => marianConfigFromHf(json, where, generation),
  kind: () => 'marian',
  size: (cfg) => transformerSize(cfg.transformer),
  build: (cfg) => buildTransformer(cfg.transformer),
  weights: marianWeights,
  mapping: (cfg, names) => hfMarianMapping(cfg, names),
  transformer: (cfg) => cfg.transformer,
  generation: (cfg) => cfg.generation,
};

/**
 * The encoder-decoder Transformer of "Attention Is All You Need" (transformer/): the paper's presets,
 * and the shipped reverse model's reverse.json with its PyTorch (or Loom-named) checkpoint.
 */
import { TRANSFORMER_PRESETS, type TransformerConfig } from '../transformer/config.ts';
import { buildTransformer } from '../transformer/model.ts';
import { isReverseJson, reverseSpecFromJson } from '../transformer/reverse-spec.ts';
import type { CharVocab } from '../tokenizers/char-vocab.ts';
import { ConfigError } from '../errors.ts';
import { detectTransformerMapping, transformerWeights } from '../weights/transformer-weights.ts';
import type { EncoderDecoderFamily } from './family.ts';
import { layerNormParams, linearParams, type ModelSize } from './model-size.ts';

/** A Transformer config, with the character table when it comes from a reverse.json (a preset has none). */
export type TransformerModelConfig = TransformerConfig & { readonly vocab?: CharVocab; readonly sourceEos?: boolean };

/** The encoder-decoder's parameters (transformer/model.ts), Marian's and the reverse model's included. */
export function transformerSize(cfg: TransformerConfig): ModelSize {
  const { encoderLayers: e, decoderLayers: dl, dModel: d, dFF: f } = cfg;
  const attention = 4 * linearParams(d, d); // q, k, v, out
  const ffn = linearParams(d, f) + linearParams(f, d);
  const encoder = e * (attention + ffn + 2 * layerNormParams(d));
  const decoder = dl * (2 * attention + ffn + 3 * layerNormParams(d)); // self- and cross-attention
  const embeddings = (cfg.sharedEmbeddings ? cfg.srcVocab : cfg.srcVocab + cfg.tgtVocab) * d;
  const positions = cfg.positional === 'learned' ? 2 * cfg.maxLen * d : 0; // src_pos, tgt_pos
  const finalNorms = cfg.norm === 'pre' ? 2 * layerNormParams(d) : 0;
  const head = (cfg.sharedEmbeddings || cfg.tieOutputToTarget ? 0 : d * cfg.tgtVocab) + (cfg.generatorBias ? cfg.tgtVocab : 0);
  const vocab = cfg.srcVocab === cfg.tgtVocab ? `vocabulary ${cfg.srcVocab}` : `vocabularies ${cfg.srcVocab} and ${cfg.tgtVocab}`;
  return {
    layers: e + dl,
    params: embeddings + positions + encoder + decoder + finalNorms + head,
    description: `${e} encoder and ${dl} decoder layers of width ${d} (feed-forward ${f}), ${vocab}`,
  };
}

function vocabOf(cfg: TransformerModelConfig): CharVocab {
  if (!cfg.vocab) throw new ConfigError("transformer: this config has no character table (a preset): give the reverse model's reverse.json to decode");
  return cfg.vocab;
}

export const transformerFamily: EncoderDecoderFamily<TransformerModelConfig> = {
  name: 'transformer',
  runs: 'encoder-decoder',
  modelTypes: [],
  configFile: "the reverse model's reverse.json",
  recognizes: isReverseJson,
  parse(json, where) {
    const { config, vocab, sourceEos } = reverseSpecFromJson(json, where);
    return { ...config, vocab, sourceEos };
  },
  kind: () => 'transformer',
  size: transformerSize,
  presets: TRANSFORMER_PRESETS,
  build: (cfg) => buildTransformer(cfg),
  weights: transformerWeights,
  mapping: (_cfg, names) => detectTransformerMapping(names),
  transformer: (cfg) => cfg,
  generation(cfg) {
    const vocab = vocabOf(cfg);
    return { decoderStartTokenId: vocab.bos, eosTokenId: vocab.eos, suppressTokens: [], forcedEosTokenId: null, maxLength: cfg.maxLen, numBeams: 1, lengthPenalty: 1 };
  },
  tokenizer(cfg) {
    const vocab = cfg.vocab;
    if (!vocab) return undefined;
    // the source's ids (the text's, then EOS where the model was trained with one)
    return { name: 'characters', encode: (text) => (cfg.sourceEos ? [...vocab.encode(text), vocab.eos] : vocab.encode(text)), decode: (ids) => vocab.decode(ids), vocabSize: vocab.size, bos: vocab.bos, eos: vocab.eos, examplePrompt: 'hello world' };
  },
};

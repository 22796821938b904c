/** GPT-2 (gpt2/): Hugging Face's GPT2LMHeadModel checkpoints and the four published sizes. */
import { GPT2_PRESETS, gpt2ConfigFromHf, type Gpt2Config } from '../gpt2/config.ts';
import { buildCachedGpt2, buildGpt2 } from '../gpt2/model.ts';
import { gpt2Tokenizer } from '../tokenizers/gpt2-tokenizer.ts';
import { gpt2Weights, hfGpt2Mapping } from '../weights/gpt2-weights.ts';
import type { CausalLmFamily } from './family.ts';
import { layerNormParams, linearParams, type ModelSize } from './model-size.ts';

/** GPT-2's parameters (gpt2/model.ts): wte [V, C] (the head too), wpe [P, C], L blocks, ln_f. */
export function gpt2Size(cfg: Gpt2Config): ModelSize {
  const { nLayer: l, nEmbd: c, nInner: f, vocabSize: v, nPositions: p } = cfg;
  // ln_1, c_attn (q, k, v at once), c_proj, ln_2, the MLP's c_fc and c_proj
  const block = layerNormParams(c) + linearParams(c, 3 * c) + linearParams(c, c) + layerNormParams(c) + linearParams(c, f) + linearParams(f, c);
  return { layers: l, params: v * c + p * c + l * block + layerNormParams(c), description: `${l} layers of width ${c} (MLP ${f}), vocabulary ${v}, ${p} positions` };
}

export const gpt2Family: CausalLmFamily<Gpt2Config> = {
  name: 'gpt2',
  runs: 'causal-lm',
  modelTypes: ['gpt2'],
  // old GPT-2 checkpoints ship a config.json without model_type
  recognizes: (json) => 'n_layer' in json,
  parse: (json, where) => gpt2ConfigFromHf(json, where),
  kind: () => 'gpt2',
  size: gpt2Size,
  presets: GPT2_PRESETS,
  build: (cfg, options) => buildGpt2(cfg, options),
  buildCached: (cfg, seq) => buildCachedGpt2(cfg, { seq }),
  weights: gpt2Weights,
  mapping: (_cfg, names) => hfGpt2Mapping(names),
  limits: (cfg) => ({ vocabSize: cfg.vocabSize, maxPositions: cfg.nPositions, eosTokenId: cfg.eosTokenId, cacheLayers: cfg.nLayer, cacheWidth: cfg.nEmbd }),
  tokenizer: () => ({ name: 'GPT-2 byte-level BPE', ...gpt2Tokenizer, eos: 50256, examplePrompt: 'The quick brown fox' }),
};

/** The Llama family (llama/): Hugging Face's LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM checkpoints. */
import { LLAMA_MODEL_TYPES, llamaConfigFromHf, type LlamaConfig } from '../llama/config.ts';
import { buildCachedLlama, buildLlama } from '../llama/model.ts';
import { hfLlamaMapping, llamaWeights } from '../weights/llama-weights.ts';
import type { CausalLmFamily } from './family.ts';
import type { ModelSize } from './model-size.ts';

/** The Llama family's parameters (llama/model.ts): embed_tokens [V, D], L layers, norm, lm_head [V, D] unless tied. */
export function llamaSize(cfg: LlamaConfig): ModelSize {
  const { nLayer: l, hidden: d, intermediate: f, vocabSize: v, nHead: h, nKvHead: kv, headDim: dh } = cfg;
  const projections = d * h * dh + 2 * d * kv * dh + h * dh * d; // q, k and v (kv heads), o
  const biases = (cfg.qkvBias ? h * dh + 2 * kv * dh : 0) + (cfg.oBias ? d : 0);
  const layer = 2 * d + projections + biases + 3 * d * f; // two RMSNorms, attention, SwiGLU (gate, up, down)
  const tables = (cfg.tieEmbeddings ? 1 : 2) * v * d;
  return { layers: l, params: tables + l * layer + d, description: `${l} layers of width ${d} (MLP ${f}), vocabulary ${v}` };
}

export const llamaFamily: CausalLmFamily<LlamaConfig> = {
  name: 'llama',
  runs: 'causal-lm',
  modelTypes: LLAMA_MODEL_TYPES,
  parse: (json, where) => llamaConfigFromHf(json, where),
  kind: (cfg) => cfg.modelType,
  size: llamaSize,
  build: (cfg, options) => buildLlama(cfg, options),
  buildCached: (cfg, seq) => buildCachedLlama(cfg, { seq }),
  weights: llamaWeights,
  mapping: (cfg) => hfLlamaMapping(cfg),
  limits: (cfg) => ({ vocabSize: cfg.vocabSize, maxPositions: cfg.maxPositions, eosTokenId: cfg.eosTokenId, cacheLayers: cfg.nLayer, cacheWidth: cfg.nKvHead * cfg.headDim }),
};

/**
 * The Llama lineage (llama/): Hugging Face's LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM,
 * GemmaForCausalLM, Gemma2ForCausalLM, GPTNeoXForCausalLM and Phi3ForCausalLM checkpoints. One
 * decoder builds them all (llama/model.ts reads each config's `variant`); each family is a record
 * of the registry with its own config parser and weight names.
 */
import { LLAMA_MODEL_TYPES, llamaConfigFromHf, type LlamaConfig } from '../llama/config.ts';
import { gemmaConfigFromHf, gptNeoxConfigFromHf, mixtralConfigFromHf, phi3ConfigFromHf } from '../llama/decoder-configs.ts';
import { buildCachedLlama, buildLlama } from '../llama/model.ts';
import { hfLlamaMapping, llamaWeights } from '../weights/llama-weights.ts';
import type { CausalLmFamily } from './family.ts';
import type { ModelSize } from './model-size.ts';

/** The parameters of a decoder of the lineage (llama/model.ts), counted from its config. */
export function llamaSize(cfg: LlamaConfig): ModelSize {
  const { nLayer: l, hidden: d, intermediate: f, vocabSize: v, nHead: h, nKvHead: kv, headDim: dh } = cfg;
  const variant = cfg.variant;
  const normSize = variant.norm.kind === 'layer' ? 2 * d : d;
  const projections = d * h * dh + 2 * d * kv * dh + h * dh * d; // q, k and v (kv heads), o
  const biases = (cfg.qkvBias ? h * dh + 2 * kv * dh : 0) + (cfg.oBias ? d : 0);
  // gate, up, down; two layers with biases; or the router and every expert's gate, up, down
  const mlp = variant.mlp.kind === 'glu' ? 3 * d * f : variant.mlp.kind === 'ffn' ? 2 * d * f + f + d : d * variant.mlp.experts + 3 * variant.mlp.experts * d * f;
  const layer = (variant.sandwichNorms ? 4 : 2) * normSize + projections + biases + mlp;
  const tables = (cfg.tieEmbeddings ? 1 : 2) * v * d;
  return { layers: l, params: tables + l * layer + normSize, description: `${l} layers of width ${d} (MLP ${f}), vocabulary ${v}` };
}

/** A family of the lineage: its model types and config parser; graphs, weights and limits are the decoder's. */
function decoderFamily(name: string, modelTypes: readonly string[], parse: (json: unknown, where: string) => LlamaConfig): CausalLmFamily<LlamaConfig> {
  return {
    name,
    runs: 'causal-lm',
    modelTypes,
    parse,
    kind: (cfg) => cfg.modelType,
    size: llamaSize,
    build: (cfg, options) => buildLlama(cfg, options),
    buildCached: (cfg, seq) => buildCachedLlama(cfg, { seq }),
    weights: llamaWeights,
    mapping: (cfg) => hfLlamaMapping(cfg),
    limits: (cfg) => ({ vocabSize: cfg.vocabSize, maxPositions: cfg.maxPositions, eosTokenId: cfg.eosTokenId, cacheLayers: cfg.nLayer, cacheWidth: cfg.nKvHead * cfg.headDim }),
  };
}

export const llamaFamily = decoderFamily('llama', LLAMA_MODEL_TYPES, (json, where) => llamaConfigFromHf(json, where));
export const mixtralFamily = decoderFamily('mixtral', ['mixtral'], (json, where) => mixtralConfigFromHf(json, where));
export const gemmaFamily = decoderFamily('gemma', ['gemma', 'gemma2'], (json, where) => gemmaConfigFromHf(json, where));
export const gptNeoxFamily = decoderFamily('gpt_neox', ['gpt_neox'], (json, where) => gptNeoxConfigFromHf(json, where));
export const phi3Family = decoderFamily('phi3', ['phi3'], (json, where) => phi3ConfigFromHf(json, where));

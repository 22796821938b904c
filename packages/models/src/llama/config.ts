import { z } from 'zod';
import { parseConfig, unsupportedField } from '../config/parse-config.ts';
import { llamaVariant, type DecoderVariant } from './variant.ts';

/**
 * The Llama family's decoder (Llama 2/3, and Mistral and Qwen2, which share its layout): pre-norm
 * RMSNorm blocks, rotary positions (halves), grouped-query attention, a SwiGLU MLP, no biases
 * except Qwen2's q/k/v projections, and an LM head that may be tied to the embedding. The decoders
 * of the same lineage (Gemma, Gemma 2, GPT-NeoX, Phi-3: decoder-configs.ts) are this config with
 * another `variant`.
 */
export interface LlamaConfig {
  readonly modelType: LlamaModelType;
  /** L */
  readonly nLayer: number;
  /** H: query heads; KV: key/value heads (H / KV query heads share one). */
  readonly nHead: number;
  readonly nKvHead: number;
  /** Dh */
  readonly headDim: number;
  /** D: the width of the residual stream. */
  readonly hidden: number;
  /** F: the MLP's hidden width. */
  readonly intermediate: number;
  /** V */
  readonly vocabSize: number;
  /** P: the longest sequence (the KV cache's capacity). */
  readonly maxPositions: number;
  readonly eps: number;
  readonly ropeTheta: number;
  readonly tieEmbeddings: boolean;
  /** q, k and v projections with biases (Qwen2; Llama's `attention_bias` also gives o_proj one). */
  readonly qkvBias: boolean;
  readonly oBias: boolean;
  /** Generation stops at this token when set (the first of a list). */
  readonly eosTokenId: number | null;
  /** How the decoder departs from Llama's (norms, MLP, rotary fraction, windows, soft-capping). */
  readonly variant: DecoderVariant;
}

export const LLAMA_MODEL_TYPES = ['llama', 'mistral', 'qwen2'] as const;
/** Every model_type the lineage's decoder builds (the families in families/ split them). */
export type LlamaModelType = (typeof LLAMA_MODEL_TYPES)[number] | 'mixtral' | 'gemma' | 'gemma2' | 'gpt_neox' | 'phi3';

const positiveInt = z.number().int().positive();
const tokenIds = z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]).nullable().optional();

const hfLlamaSchema = z.object({
  model_type: z.enum(LLAMA_MODEL_TYPES),
  vocab_size: positiveInt,
  hidden_size: positiveInt,
  intermediate_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt.nullable().optional(),
  head_dim: positiveInt.nullable().optional(),
  max_position_embeddings: positiveInt,
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().default(10000),
  hidden_act: z.string().default('silu'),
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.boolean().default(false),
  mlp_bias: z.boolean().default(false),
  rope_scaling: z.unknown().optional(),
  sliding_window: z.number().int().nullable().optional(),
  use_sliding_window: z.boolean().optional(),
  eos_token_id: tokenIds,
});

/** Parses a Hugging Face config of model_type llama, mistral or qwen2; what Loom does not build is a ConfigError naming the field. */
export function llamaConfigFromHf(json: unknown, where = 'config.json'): LlamaConfig {
  const c = parseConfig(hfLlamaSchema, json, where);
  const unsupported = unsupportedField(where);
  if (c.hidden_act !== 'silu') unsupported('hidden_act', `'${c.hidden_act}' is not supported for ${c.model_type} (supported: silu, the SwiGLU MLP)`);
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) unsupported('rope_scaling', `${JSON.stringify(c.rope_scaling).slice(0, 60)} is not supported (only unscaled rotary positions)`);
  if (c.mlp_bias) unsupported('mlp_bias', 'MLP biases are not supported');
  // Qwen2 slides only in the layers past max_window_layers; Mistral's window is every layer's
  if (c.model_type === 'qwen2' && c.use_sliding_window === true) unsupported('use_sliding_window', "Qwen2's sliding window (layers past max_window_layers) is not supported");
  if (c.model_type === 'llama' && c.sliding_window != null) unsupported('sliding_window', 'a llama config with a sliding window is not one Hugging Face builds');
  const window = c.model_type === 'mistral' && c.sliding_window != null && c.sliding_window < c.max_position_embeddings ? c.sliding_window : null;
  if (window !== null && window < 1) unsupported('sliding_window', `${window} must be at least 1`);
  const nKvHead = c.num_key_value_heads ?? c.num_attention_heads;
  if (c.num_attention_heads % nKvHead !== 0) unsupported('num_key_value_heads', `${nKvHead} does not divide num_attention_heads ${c.num_attention_heads}`);
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) unsupported('head_dim', `${headDim} must be an even integer (rotary positions rotate pairs)`);
  const eos = Array.isArray(c.eos_token_id) ? (c.eos_token_id[0] ?? null) : (c.eos_token_id ?? null);
  return {
    modelType: c.model_type,
    nLayer: c.num_hidden_layers,
    nHead: c.num_attention_heads,
    nKvHead,
    headDim,
    hidden: c.hidden_size,
    intermediate: c.intermediate_size,
    vocabSize: c.vocab_size,
    maxPositions: c.max_position_embeddings,
    eps: c.rms_norm_eps,
    ropeTheta: c.rope_theta,
    tieEmbeddings: c.tie_word_embeddings,
    qkvBias: c.model_type === 'qwen2' || c.attention_bias,
    oBias: c.model_type !== 'qwen2' && c.attention_bias,
    eosTokenId: eos,
    variant: { ...llamaVariant(c.num_hidden_layers), layerWindows: new Array<number | null>(c.num_hidden_layers).fill(window) },
  };
}

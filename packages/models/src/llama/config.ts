import { z } from 'zod';
import { parseConfig, unsupportedField } from '../config/parse-config.ts';
import { checkHeads, decoderSizes, HF_DECODER_FIELDS, noRopeScaling } from './hf-decoder-fields.ts';
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

const hfLlamaSchema = z.object({
  ...HF_DECODER_FIELDS,
  model_type: z.enum(LLAMA_MODEL_TYPES),
  rms_norm_eps: z.number().positive().default(1e-6),
  hidden_act: z.string().default('silu'),
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.boolean().default(false),
  mlp_bias: z.boolean().default(false),
  sliding_window: z.number().int().nullable().optional(),
  use_sliding_window: z.boolean().optional(),
});

/** Parses a Hugging Face config of model_type llama, mistral or qwen2; what Loom does not build is a ConfigError naming the field. */
export function llamaConfigFromHf(json: unknown, where = 'config.json'): LlamaConfig {
  const c = parseConfig(hfLlamaSchema, json, where);
  const unsupported = unsupportedField(where);
  if (c.hidden_act !== 'silu') unsupported('hidden_act', `'${c.hidden_act}' is not supported for ${c.model_type} (supported: silu, the SwiGLU MLP)`);
  noRopeScaling(c.rope_scaling, unsupported);
  if (c.mlp_bias) unsupported('mlp_bias', 'MLP biases are not supported');
  // Qwen2 slides only in the layers past max_window_layers; Mistral's window is every layer's
  if (c.model_type === 'qwen2' && c.use_sliding_window === true) unsupported('use_sliding_window', "Qwen2's sliding window (layers past max_window_layers) is not supported");
  // Hugging Face's LlamaConfig has no window: a llama config's sliding_window is ignored, as it is there
  const window = c.model_type === 'mistral' && c.sliding_window != null && c.sliding_window < c.max_position_embeddings ? c.sliding_window : null;
  if (window !== null && window < 1) unsupported('sliding_window', `${window} must be at least 1`);
  const sizes = decoderSizes(c);
  checkHeads(sizes, unsupported);
  return {
    ...sizes,
    modelType: c.model_type,
    eps: c.rms_norm_eps,
    tieEmbeddings: c.tie_word_embeddings,
    qkvBias: c.model_type === 'qwen2' || c.attention_bias,
    oBias: c.model_type !== 'qwen2' && c.attention_bias,
    variant: { ...llamaVariant(c.num_hidden_layers), layerWindows: new Array<number | null>(c.num_hidden_layers).fill(window) },
  };
}

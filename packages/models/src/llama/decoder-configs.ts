/**
 * Hugging Face configs of the decoders that share Llama's skeleton, parsed into a LlamaConfig whose
 * `variant` says how they differ: Gemma (norm offset, GeGLU, embedding scale), Gemma 2 (and
 * soft-capping, sandwich norms, alternating local and global layers), GPT-NeoX / Pythia (LayerNorm,
 * partial rotary, parallel residual, a two-layer MLP with biases) and Phi-3 (partial rotary, a window
 * on every layer). What Loom does not build is a ConfigError naming the field.
 */
import { z } from 'zod';
import { parseConfig, unsupportedField } from '../config/parse-config.ts';
import { llamaConfigFromHf, type LlamaConfig } from './config.ts';
import { checkHeads, decoderSizes, HF_DECODER_FIELDS, noRopeScaling } from './hf-decoder-fields.ts';
import { llamaVariant } from './variant.ts';

const positiveInt = z.number().int().positive();

/** Hugging Face's activation names to Loom's (gelu_pytorch_tanh is the tanh approximation). */
const ACTIVATION = { gelu_pytorch_tanh: 'gelu_tanh', gelu_new: 'gelu_tanh', gelu: 'gelu', silu: 'silu' } as const;

function activationOf(name: string, field: string, unsupported: (field: string, why: string) => never) {
  const act = (ACTIVATION as Readonly<Record<string, (typeof ACTIVATION)[keyof typeof ACTIVATION]>>)[name];
  return act ?? unsupported(field, `'${name}' is not supported (supported: ${Object.keys(ACTIVATION).join(', ')})`);
}

const gemmaSchema = z.object({
  ...HF_DECODER_FIELDS,
  model_type: z.enum(['gemma', 'gemma2']),
  rms_norm_eps: z.number().positive().default(1e-6),
  hidden_activation: z.string().nullable().optional(),
  tie_word_embeddings: z.boolean().default(true),
  attention_bias: z.boolean().default(false),
  // Gemma 2
  query_pre_attn_scalar: z.number().positive().nullable().optional(),
  attn_logit_softcapping: z.number().positive().nullable().optional(),
  final_logit_softcapping: z.number().positive().nullable().optional(),
  sliding_window: positiveInt.nullable().optional(),
  layer_types: z.array(z.enum(['sliding_attention', 'full_attention'])).nullable().optional(),
  use_bidirectional_attention: z.boolean().nullable().optional(),
});

/**
 * Gemma and Gemma 2: RMSNorm as x (1 + w), embeddings times sqrt(hidden) (float32, as Hugging Face
 * casts it), GeGLU with hidden_activation (default gelu_pytorch_tanh; Hugging Face ignores an older
 * config's hidden_act), a tied head. Gemma 2 adds the sandwich norms, query_pre_attn_scalar, both
 * soft-caps and its sliding window on every other layer (layer_types when given, else even layers).
 */
export function gemmaConfigFromHf(json: unknown, where = 'config.json'): LlamaConfig {
  const c = parseConfig(gemmaSchema, json, where);
  const unsupported = unsupportedField(where);
  noRopeScaling(c.rope_scaling, unsupported);
  if (c.use_bidirectional_attention) unsupported('use_bidirectional_attention', 'bidirectional attention is not supported (Loom builds causal LMs)');
  const sizes = decoderSizes(c);
  checkHeads(sizes, unsupported);
  const layers = c.num_hidden_layers;
  const gemma2 = c.model_type === 'gemma2';
  let layerWindows: (number | null)[] = new Array<null>(layers).fill(null);
  if (gemma2) {
    if (c.query_pre_attn_scalar == null) unsupported('query_pre_attn_scalar', 'Gemma 2 needs it (the attention scale is its -1/2 power)');
    if (c.layer_types && c.layer_types.length !== layers) unsupported('layer_types', `${c.layer_types.length} entries for ${layers} layers`);
    const sliding = (i: number) => (c.layer_types ? c.layer_types[i] === 'sliding_attention' : i % 2 === 0);
    if (c.sliding_window == null && Array.from({ length: layers }, (_, i) => sliding(i)).some(Boolean)) unsupported('sliding_window', 'sliding layers need a window');
    layerWindows = Array.from({ length: layers }, (_, i) => (sliding(i) && c.sliding_window! < c.max_position_embeddings ? c.sliding_window! : null));
  }
  return {
    ...sizes,
    modelType: c.model_type,
    eps: c.rms_norm_eps,
    tieEmbeddings: c.tie_word_embeddings,
    qkvBias: c.attention_bias,
    oBias: c.attention_bias,
    variant: {
      ...llamaVariant(layers),
      norm: { kind: 'rms', offset: 1 },
      embedScale: Math.fround(Math.sqrt(c.hidden_size)),
      mlp: { kind: 'glu', activation: activationOf(c.hidden_activation ?? 'gelu_pytorch_tanh', 'hidden_activation', unsupported) },
      sandwichNorms: gemma2,
      attentionScale: gemma2 ? c.query_pre_attn_scalar! ** -0.5 : null,
      attentionSoftcap: gemma2 ? (c.attn_logit_softcapping ?? null) : null,
      finalSoftcap: gemma2 ? (c.final_logit_softcapping ?? null) : null,
      layerWindows,
    },
  };
}

const gptNeoxSchema = z.object({
  ...HF_DECODER_FIELDS,
  model_type: z.literal('gpt_neox'),
  layer_norm_eps: z.number().positive().default(1e-5),
  rotary_pct: z.number().gt(0).lte(1).default(0.25),
  rotary_emb_base: z.number().positive().default(10000),
  hidden_act: z.string().default('gelu'),
  use_parallel_residual: z.boolean().default(true),
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.boolean().default(true),
});

/** GPT-NeoX / Pythia: LayerNorms, partial rotary (rotary_pct), a parallel residual, dense_h_to_4h / dense_4h_to_h with biases. */
export function gptNeoxConfigFromHf(json: unknown, where = 'config.json'): LlamaConfig {
  const c = parseConfig(gptNeoxSchema, json, where);
  const unsupported = unsupportedField(where);
  noRopeScaling(c.rope_scaling, unsupported);
  // every head has its own keys and values; the rotary base is rotary_emb_base
  const sizes = { ...decoderSizes(c), nKvHead: c.num_attention_heads, headDim: c.hidden_size / c.num_attention_heads, ropeTheta: c.rotary_emb_base };
  checkHeads(sizes, unsupported);
  const rotary = Math.floor(sizes.headDim * c.rotary_pct);
  if (rotary < 2 || rotary % 2 !== 0) unsupported('rotary_pct', `${c.rotary_pct} of head_dim ${sizes.headDim} rotates ${rotary} features; it must be an even number >= 2`);
  const act = activationOf(c.hidden_act, 'hidden_act', unsupported);
  return {
    ...sizes,
    modelType: 'gpt_neox',
    eps: c.layer_norm_eps,
    tieEmbeddings: c.tie_word_embeddings,
    qkvBias: c.attention_bias,
    oBias: c.attention_bias,
    variant: { ...llamaVariant(c.num_hidden_layers), norm: { kind: 'layer' }, mlp: { kind: 'ffn', activation: act }, rotaryFraction: c.rotary_pct, parallelResidual: c.use_parallel_residual },
  };
}

const phi3Schema = z.object({
  ...HF_DECODER_FIELDS,
  model_type: z.literal('phi3'),
  rms_norm_eps: z.number().positive().default(1e-5),
  partial_rotary_factor: z.number().gt(0).lte(1).default(1),
  hidden_act: z.string().default('silu'),
  tie_word_embeddings: z.boolean().default(false),
  sliding_window: positiveInt.nullable().optional(),
});

/**
 * Phi-3: Llama's blocks with q, k and v in one qkv_proj and gate and up in one gate_up_proj (split at
 * load: weights/llama-weights.ts), partial rotary, and sliding_window on every layer when set (as
 * current Hugging Face builds its mask).
 */
export function phi3ConfigFromHf(json: unknown, where = 'config.json'): LlamaConfig {
  const c = parseConfig(phi3Schema, json, where);
  const unsupported = unsupportedField(where);
  noRopeScaling(c.rope_scaling, unsupported);
  if (c.hidden_act !== 'silu') unsupported('hidden_act', `'${c.hidden_act}' is not supported for phi3 (supported: silu)`);
  const sizes = decoderSizes(c);
  checkHeads(sizes, unsupported);
  const rotary = Math.floor(sizes.headDim * c.partial_rotary_factor);
  if (rotary < 2 || rotary % 2 !== 0) unsupported('partial_rotary_factor', `${c.partial_rotary_factor} of head_dim ${sizes.headDim} rotates ${rotary} features; it must be an even number >= 2`);
  const window = c.sliding_window != null && c.sliding_window < c.max_position_embeddings ? c.sliding_window : null;
  return {
    ...sizes,
    modelType: 'phi3',
    eps: c.rms_norm_eps,
    tieEmbeddings: c.tie_word_embeddings,
    qkvBias: false,
    oBias: false,
    variant: { ...llamaVariant(c.num_hidden_layers), rotaryFraction: c.partial_rotary_factor, layerWindows: new Array<number | null>(c.num_hidden_layers).fill(window) },
  };
}

const mixtralSchema = z.object({
  model_type: z.literal('mixtral'),
  num_local_experts: positiveInt,
  num_experts_per_tok: positiveInt,
  router_jitter_noise: z.number().nonnegative().default(0),
});

/**
 * Mixtral: Mistral's decoder (its sliding window included) with each MLP a sparse mixture of
 * num_local_experts SwiGLU experts, of which each token runs num_experts_per_tok (the router's
 * softmax over the picked ones, renormalized). Router jitter is a training-time noise: inference
 * ignores it, as Hugging Face's eval mode does.
 */
export function mixtralConfigFromHf(json: unknown, where = 'config.json'): LlamaConfig {
  const c = parseConfig(mixtralSchema, json, where);
  const unsupported = unsupportedField(where);
  if (c.num_experts_per_tok > c.num_local_experts) unsupported('num_experts_per_tok', `${c.num_experts_per_tok} is more than the ${c.num_local_experts} experts`);
  const base = llamaConfigFromHf({ ...(json as Record<string, unknown>), model_type: 'mistral' }, where);
  return { ...base, modelType: 'mixtral', variant: { ...base.variant, mlp: { kind: 'moe', experts: c.num_local_experts, k: c.num_experts_per_tok } } };
}

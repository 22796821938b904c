import type { Activation } from '@loom/graph';
import { z } from 'zod';
import { parseJsonText } from '../config/parse-config.ts';
import { ConfigError } from '../errors.ts';

/** GPT-2 (Radford et al., 2019): a pre-norm decoder-only Transformer with learned positions and a tied LM head. */
export interface Gpt2Config {
  /** L: transformer blocks. */
  readonly nLayer: number;
  /** H: attention heads. */
  readonly nHead: number;
  /** C: the width of the residual stream. */
  readonly nEmbd: number;
  /** The MLP's hidden width (4C unless the config says otherwise). */
  readonly nInner: number;
  /** P: rows of the position table, the longest sequence the model takes. */
  readonly nPositions: number;
  /** V */
  readonly vocabSize: number;
  readonly eps: number;
  readonly activation: Activation;
  /** End-of-text token; generation stops there when set. */
  readonly eosTokenId: number | null;
}

function preset(nLayer: number, nHead: number, nEmbd: number): Gpt2Config {
  return { nLayer, nHead, nEmbd, nInner: 4 * nEmbd, nPositions: 1024, vocabSize: 50257, eps: 1e-5, activation: 'gelu_tanh', eosTokenId: 50256 };
}

/**
 * The four published GPT-2 sizes. Parameter counts of the built graphs (wte shared with the LM head
 * and counted once, attention-mask buffers not counted), equal to Hugging Face's `num_parameters()`:
 * gpt2 124,439,808; gpt2-medium 354,823,168; gpt2-large 774,030,080; gpt2-xl 1,557,611,200.
 */
export const GPT2_PRESETS = {
  gpt2: preset(12, 12, 768),
  'gpt2-medium': preset(24, 16, 1024),
  'gpt2-large': preset(36, 20, 1280),
  'gpt2-xl': preset(48, 25, 1600),
} as const satisfies Record<string, Gpt2Config>;

export type Gpt2Preset = keyof typeof GPT2_PRESETS;

/** Hugging Face activation names and the Loom activation each one is. */
const HF_ACTIVATIONS: Readonly<Record<string, Activation>> = {
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
  gelu: 'gelu',
  relu: 'relu',
};

const positiveInt = z.number().int().positive();
const tokenId = z.number().int().nonnegative().nullable().optional();

/**
 * The fields of a Hugging Face GPT-2 `config.json` that shape the model. Other fields (dropout,
 * summary heads, ...) do not change inference and are ignored; fields that would change it to
 * something Loom does not build are rejected.
 */
const hfGpt2Schema = z.object({
  model_type: z.literal('gpt2', { message: "model_type must be 'gpt2'" }).optional(),
  n_layer: positiveInt,
  n_head: positiveInt,
  n_embd: positiveInt,
  n_positions: positiveInt,
  vocab_size: positiveInt,
  n_inner: positiveInt.nullable().optional(),
  layer_norm_epsilon: z.number().positive().default(1e-5),
  activation_function: z.string().default('gelu_new'),
  tie_word_embeddings: z.literal(true, { message: 'must be true: Loom builds GPT-2 with the LM head tied to wte' }).optional(),
  scale_attn_weights: z.literal(true, { message: 'must be true (unscaled attention is not supported)' }).optional(),
  scale_attn_by_inverse_layer_idx: z.literal(false, { message: 'must be false (not supported)' }).optional(),
  add_cross_attention: z.literal(false, { message: 'must be false (cross-attention is not supported)' }).optional(),
  eos_token_id: tokenId,
});

function valueAt(json: unknown, path: readonly PropertyKey[]): unknown {
  let at: unknown = json;
  for (const key of path) {
    if (at === null || typeof at !== 'object' || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at;
}

function describeValue(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/** Parses and validates a Hugging Face GPT-2 config (the object from config.json). */
export function gpt2ConfigFromHf(json: unknown, where = 'config.json'): Gpt2Config {
  const parsed = hfGpt2Schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
    // zod does not keep the input: look the value up, so a wrong type is not reported as missing
    const value = valueAt(json, issue.path);
    const message = value === undefined ? 'is required' : `${issue.message}, got ${describeValue(value)}`;
    throw new ConfigError(`${where}: ${field}: ${message}`);
  }
  const c = parsed.data;
  const activation = HF_ACTIVATIONS[c.activation_function];
  if (!Object.hasOwn(HF_ACTIVATIONS, c.activation_function) || !activation) {
    throw new ConfigError(`${where}: activation_function: unsupported value '${c.activation_function}'; supported: ${Object.keys(HF_ACTIVATIONS).join(', ')}`);
  }
  if (c.n_embd % c.n_head !== 0) throw new ConfigError(`${where}: n_embd ${c.n_embd} does not divide into ${c.n_head} heads`);
  return {
    nLayer: c.n_layer,
    nHead: c.n_head,
    nEmbd: c.n_embd,
    nInner: c.n_inner ?? 4 * c.n_embd,
    nPositions: c.n_positions,
    vocabSize: c.vocab_size,
    eps: c.layer_norm_epsilon,
    activation,
    eosTokenId: c.eos_token_id ?? null,
  };
}

/** Parses config.json text; a syntax error is a ConfigError too. */
export function parseGpt2ConfigJson(text: string, where = 'config.json'): Gpt2Config {
  return gpt2ConfigFromHf(parseJsonText(text, where), where);
}

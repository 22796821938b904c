/**
 * Mistral, float64 reference (TEST-ONLY), written from transformers' models/mistral/modeling_mistral.py
 * (MistralForCausalLM, eager attention), no cache, one sequence, positions 0..T-1.
 *
 * HF behaviours followed:
 *  - the Llama decoder: x = embed_tokens(ids); per layer x += o_proj(attn(input_layernorm(x))),
 *    x += down_proj(silu(gate_proj(n)) * up_proj(n)) with n = post_attention_layernorm(x); model.norm; lm_head
 *    (or the embedding when tie_word_embeddings). RMSNorm = LlamaRMSNorm (x * rsqrt(mean x^2 + eps) * w).
 *  - no biases anywhere (MistralAttention/MistralMLP use bias=False).
 *  - head_dim = config.head_dim if set (non-null) else hidden_size / num_attention_heads; scaling head_dim^-0.5;
 *    GQA via repeat_kv; rope halves over the whole head_dim with rope_theta (default 10000.0).
 *  - sliding_window (MistralConfig default 4096; null in Mistral v0.2+ configs): when non-null MistralModel uses
 *    create_sliding_window_causal_mask for every layer: query i sees key j iff j <= i and i - j < sliding_window.
 *    Mistral has no use_sliding_window switch (Qwen2 does). Older transformers (< ~4.45, eager path through
 *    _prepare_4d_causal_attention_mask) let a query see sliding_window + 1 keys; see common.ts.
 *  - hidden_act is read from the config (ACT2FN); Mistral checkpoints use 'silu'.
 * Not covered: rope_scaling (refused), attention/MLP dropout (inference), padding masks.
 */
import { activation, add, attention, embedding, linear, mapMatrix, mul, rmsnorm, ropeRows, ropeTheta, tensor, tensorSource, type Checkpoint, decoderDims } from './common.ts';

export interface MistralHfConfig {
  model_type: 'mistral';
  architectures?: string[];
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number | null;
  head_dim?: number | null;
  hidden_act: string;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta?: number;
  rope_scaling?: unknown;
  sliding_window: number | null;
  tie_word_embeddings: boolean;
  attention_dropout?: number;
  bos_token_id?: number;
  eos_token_id?: number;
  torch_dtype?: string;
}

export function tinyMistralConfig(): MistralHfConfig {
  return {
    model_type: 'mistral',
    architectures: ['MistralForCausalLM'],
    vocab_size: 80,
    hidden_size: 48,
    intermediate_size: 96,
    num_hidden_layers: 2,
    num_attention_heads: 6,
    num_key_value_heads: 2,
    head_dim: 8,
    hidden_act: 'silu',
    max_position_embeddings: 64,
    rms_norm_eps: 1e-5,
    rope_theta: 10000.0,
    sliding_window: 5,
    tie_word_embeddings: false,
    attention_dropout: 0.0,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
}

const dims = (cfg: MistralHfConfig) => decoderDims(cfg);

/** Every tensor of MistralForCausalLM's state_dict (lm_head.weight only when untied). */
export function randomMistralCheckpoint(cfg: MistralHfConfig, seed: number): Checkpoint {
  const t = tensorSource(seed);
  const { d, h, kv, dh, f, v } = dims(cfg);
  const c: Checkpoint = new Map([['model.embed_tokens.weight', t([v, d], 0.5)]]);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    c.set(`${p}.self_attn.q_proj.weight`, t([h * dh, d]));
    c.set(`${p}.self_attn.k_proj.weight`, t([kv * dh, d]));
    c.set(`${p}.self_attn.v_proj.weight`, t([kv * dh, d]));
    c.set(`${p}.self_attn.o_proj.weight`, t([d, h * dh]));
    c.set(`${p}.mlp.gate_proj.weight`, t([f, d]));
    c.set(`${p}.mlp.up_proj.weight`, t([f, d]));
    c.set(`${p}.mlp.down_proj.weight`, t([d, f]));
    c.set(`${p}.input_layernorm.weight`, t([d], 1));
    c.set(`${p}.post_attention_layernorm.weight`, t([d], 1));
  }
  c.set('model.norm.weight', t([d], 1));
  if (!cfg.tie_word_embeddings) c.set('lm_head.weight', t([v, d], 0.5));
  return c;
}

/** MistralForCausalLM's logits [T][V] for one sequence, in float64. */
export function hfMistralForward(cfg: MistralHfConfig, c: Checkpoint, ids: number[]): number[][] {
  const { d, h, kv, dh, f, v } = dims(cfg);
  const theta = ropeTheta(cfg, 10000);
  const act = activation(cfg.hidden_act);
  const eps = cfg.rms_norm_eps;
  const embed = tensor(c, 'model.embed_tokens.weight', [v, d]);
  let x = embedding(embed, ids);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    const n = rmsnorm(x, tensor(c, `${p}.input_layernorm.weight`, [d]), eps);
    const q = ropeRows(linear(n, tensor(c, `${p}.self_attn.q_proj.weight`, [h * dh, d])), h, dh, dh, theta);
    const k = ropeRows(linear(n, tensor(c, `${p}.self_attn.k_proj.weight`, [kv * dh, d])), kv, dh, dh, theta);
    const val = linear(n, tensor(c, `${p}.self_attn.v_proj.weight`, [kv * dh, d]));
    const ctx = attention(q, k, val, { nHead: h, nKvHead: kv, headDim: dh, scaling: dh ** -0.5, slidingWindow: cfg.sliding_window });
    x = add(x, linear(ctx, tensor(c, `${p}.self_attn.o_proj.weight`, [d, h * dh])));
    const n2 = rmsnorm(x, tensor(c, `${p}.post_attention_layernorm.weight`, [d]), eps);
    const gate = mapMatrix(linear(n2, tensor(c, `${p}.mlp.gate_proj.weight`, [f, d])), act);
    const up = linear(n2, tensor(c, `${p}.mlp.up_proj.weight`, [f, d]));
    x = add(x, linear(mul(gate, up), tensor(c, `${p}.mlp.down_proj.weight`, [d, f])));
  }
  const head = cfg.tie_word_embeddings ? embed : tensor(c, 'lm_head.weight', [v, d]);
  return linear(rmsnorm(x, tensor(c, 'model.norm.weight', [d]), eps), head);
}

/**
 * Phi-3, float64 reference (TEST-ONLY), written from transformers' models/phi3/modeling_phi3.py and
 * modular_phi3.py (Phi3ForCausalLM, eager attention), no cache, one sequence, positions 0..T-1.
 *
 * HF behaviours followed:
 *  - the Mistral/Llama decoder shape (pre-norm, LlamaRMSNorm-style Phi3RMSNorm x * rsqrt(mean x^2 + eps) * w,
 *    residual adds; resid/embd dropouts are inference-inert), model.norm, untied lm_head by default
 *    (tie_word_embeddings false; honoured when true).
 *  - attention: ONE fused projection self_attn.qkv_proj.weight [(H + 2 KV) Dh, D] (no bias); its output columns are
 *    q | k | v in that order: q = [:H Dh], k = [H Dh : H Dh + KV Dh], v = [H Dh + KV Dh :], each then viewed as
 *    (heads, Dh). head_dim = config.head_dim if present else hidden / heads; scaling head_dim^-0.5; GQA via
 *    repeat_kv; o_proj without bias.
 *  - rope: halves (rotate_half) with rope_theta (default 10000) over rotary_dim = int(head_dim *
 *    partial_rotary_factor) (default 1.0; Phi-4-mini uses 0.75): the first rotary_dim elements of each head rotate,
 *    the rest pass through (Phi3's apply_rotary_pos_emb; inv_freq over dim = rotary_dim).
 *  - MLP: gate_up = mlp.gate_up_proj(n) with weight [2F, D] (no bias); gate, up = gate_up.chunk(2, -1) - the
 *    FIRST F outputs are the gate, the next F the up; out = mlp.down_proj(up * act(gate)), act = ACT2FN[hidden_act]
 *    ('silu').
 *  - sliding_window (Phi-3-mini-4k's config says 2047; Phi3Config default null): current transformers passes it to
 *    the attention and builds the mask with create_sliding_window_causal_mask whenever it is non-null, for every
 *    layer: query i sees key j iff j <= i and i - j < sliding_window. The reference applies it likewise.
 *    UNCLEAR across versions: transformers ~4.40-4.44 applied it only on the flash-attention path (window_size =
 *    sliding_window there) or, eager, via _prepare_4d_causal_attention_mask (window + 1 keys); on sequences shorter
 *    than the window, every version agrees.
 * Not covered: rope_scaling ('su' / 'longrope' of the 128k models; refused), padding masks.
 */
import { activation, add, attention, embedding, linear, mapMatrix, mul, rmsnorm, ropeRows, ropeTheta, splitColumns, tensor, tensorSource, type Checkpoint, decoderDims } from './common.ts';

export interface Phi3HfConfig {
  model_type: 'phi3';
  architectures?: string[];
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number | null;
  head_dim?: number | null;
  resid_pdrop?: number;
  embd_pdrop?: number;
  attention_dropout?: number;
  hidden_act: string;
  max_position_embeddings: number;
  original_max_position_embeddings?: number;
  initializer_range?: number;
  rms_norm_eps: number;
  use_cache?: boolean;
  tie_word_embeddings: boolean;
  rope_theta?: number;
  rope_scaling?: unknown;
  partial_rotary_factor?: number;
  bos_token_id?: number;
  eos_token_id?: number;
  pad_token_id?: number | null;
  sliding_window: number | null;
  torch_dtype?: string;
}

export function tinyPhi3Config(): Phi3HfConfig {
  return {
    model_type: 'phi3',
    architectures: ['Phi3ForCausalLM'],
    vocab_size: 100,
    hidden_size: 48,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 6,
    num_key_value_heads: 2,
    resid_pdrop: 0.0,
    embd_pdrop: 0.0,
    attention_dropout: 0.0,
    hidden_act: 'silu',
    max_position_embeddings: 64,
    original_max_position_embeddings: 64,
    initializer_range: 0.02,
    rms_norm_eps: 1e-5,
    use_cache: true,
    tie_word_embeddings: false,
    rope_theta: 10000.0,
    rope_scaling: null,
    partial_rotary_factor: 1.0,
    bos_token_id: 1,
    eos_token_id: 2,
    pad_token_id: 0,
    sliding_window: 6,
    torch_dtype: 'float32',
  };
}

function dims(cfg: Phi3HfConfig) {
  const sizes = decoderDims(cfg);
  return { ...sizes, rot: Math.trunc(sizes.dh * (cfg.partial_rotary_factor ?? 1)) };
}

/** Every tensor of Phi3ForCausalLM's state_dict (lm_head.weight only when untied). */
export function randomPhi3Checkpoint(cfg: Phi3HfConfig, seed: number): Checkpoint {
  const t = tensorSource(seed);
  const { d, h, kv, dh, f, v } = dims(cfg);
  const c: Checkpoint = new Map([['model.embed_tokens.weight', t([v, d], 0.5)]]);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    c.set(`${p}.self_attn.o_proj.weight`, t([d, h * dh]));
    c.set(`${p}.self_attn.qkv_proj.weight`, t([(h + 2 * kv) * dh, d]));
    c.set(`${p}.mlp.gate_up_proj.weight`, t([2 * f, d]));
    c.set(`${p}.mlp.down_proj.weight`, t([d, f]));
    c.set(`${p}.input_layernorm.weight`, t([d], 1));
    c.set(`${p}.post_attention_layernorm.weight`, t([d], 1));
  }
  c.set('model.norm.weight', t([d], 1));
  if (!cfg.tie_word_embeddings) c.set('lm_head.weight', t([v, d], 0.5));
  return c;
}

/** Phi3ForCausalLM's logits [T][V] for one sequence, in float64. */
export function hfPhi3Forward(cfg: Phi3HfConfig, c: Checkpoint, ids: number[]): number[][] {
  const { d, h, kv, dh, rot, f, v } = dims(cfg);
  const theta = ropeTheta(cfg, 10000);
  const act = activation(cfg.hidden_act);
  const eps = cfg.rms_norm_eps;
  const embed = tensor(c, 'model.embed_tokens.weight', [v, d]);
  let x = embedding(embed, ids);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    const n = rmsnorm(x, tensor(c, `${p}.input_layernorm.weight`, [d]), eps);
    const qkv = linear(n, tensor(c, `${p}.self_attn.qkv_proj.weight`, [(h + 2 * kv) * dh, d]));
    const [q, k, val] = splitColumns(qkv, [h * dh, kv * dh, kv * dh]) as [number[][], number[][], number[][]];
    const ctx = attention(ropeRows(q, h, dh, rot, theta), ropeRows(k, kv, dh, rot, theta), val, { nHead: h, nKvHead: kv, headDim: dh, scaling: dh ** -0.5, slidingWindow: cfg.sliding_window });
    x = add(x, linear(ctx, tensor(c, `${p}.self_attn.o_proj.weight`, [d, h * dh])));
    const n2 = rmsnorm(x, tensor(c, `${p}.post_attention_layernorm.weight`, [d]), eps);
    const [gate, up] = splitColumns(linear(n2, tensor(c, `${p}.mlp.gate_up_proj.weight`, [2 * f, d])), [f, f]) as [number[][], number[][]];
    x = add(x, linear(mul(up, mapMatrix(gate, act)), tensor(c, `${p}.mlp.down_proj.weight`, [d, f])));
  }
  const head = cfg.tie_word_embeddings ? embed : tensor(c, 'lm_head.weight', [v, d]);
  return linear(rmsnorm(x, tensor(c, 'model.norm.weight', [d]), eps), head);
}

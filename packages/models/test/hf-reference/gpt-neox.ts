/**
 * GPT-NeoX / Pythia, float64 reference (TEST-ONLY), written from transformers' models/gpt_neox/modeling_gpt_neox.py
 * (GPTNeoXForCausalLM, eager attention), no cache, one sequence, positions 0..T-1.
 *
 * HF behaviours followed:
 *  - x = gpt_neox.embed_in(ids) (no scaling, no position embeddings; embed_dropout is inference-inert).
 *  - attention (GPTNeoXAttention): qkv = attention.query_key_value(ln1(x)) with weight [3 D, D] and bias [3 D]
 *    (bias when attention_bias, default true); the 3 D outputs are laid out PER HEAD: view(T, H, 3 * Dh), then
 *    q = [..., :Dh], k = [..., Dh:2Dh], v = [..., 2Dh:] of each head (NOT q|k|v blocks as in Phi-3).
 *    head_size = hidden / heads; rotary_ndims = int(head_size * rotary_pct) (Python int() truncation); rope
 *    halves (rotate_half) on the first rotary_ndims of each head's q and k, the rest passing through; inv_freq
 *    over dim = rotary_ndims with base rotary_emb_base (default 10000); scaling (norm_factor) head_size^-0.5;
 *    causal mask, no window; attention.dense with bias.
 *  - MLP: mlp.dense_4h_to_h(act(mlp.dense_h_to_4h(n))), both with bias, act = ACT2FN[hidden_act] ('gelu' = exact
 *    erf GELU in Pythia/NeoX-20B).
 *  - LayerNorms (input_layernorm, post_attention_layernorm, gpt_neox.final_layer_norm) with weight and bias,
 *    eps = layer_norm_eps (default 1e-5).
 *  - use_parallel_residual true (default): x = x + attn(ln1(x)) + mlp(ln2(x)) (both norms read the same x);
 *    false: x = x + attn(ln1(x)); x = x + mlp(ln2(x)).
 *  - logits = embed_out(final_layer_norm(x)) (embed_out untied: tie_word_embeddings default false; with true HF
 *    ties it to embed_in, which the reference also honours).
 *  - old Pythia files also carry non-persistent buffers (attention.bias, attention.masked_bias,
 *    attention.rotary_emb.inv_freq); they are not in a current state_dict and are not generated here.
 * Not covered: rope_scaling (refused), head_mask, padding masks.
 */
import { activation, add, attention, embedding, layernorm, linear, mapMatrix, ropeRows, tensor, tensorSource, type Checkpoint, type Matrix } from './common.ts';

export interface GptNeoxHfConfig {
  model_type: 'gpt_neox';
  architectures?: string[];
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  hidden_act: string;
  rotary_pct: number;
  rotary_emb_base: number;
  attention_dropout?: number;
  hidden_dropout?: number;
  max_position_embeddings: number;
  initializer_range?: number;
  layer_norm_eps: number;
  use_cache?: boolean;
  bos_token_id?: number;
  eos_token_id?: number;
  tie_word_embeddings: boolean;
  use_parallel_residual: boolean;
  rope_scaling?: unknown;
  attention_bias?: boolean;
  torch_dtype?: string;
}

export function tinyGptNeoxConfig(): GptNeoxHfConfig {
  return {
    model_type: 'gpt_neox',
    architectures: ['GPTNeoXForCausalLM'],
    vocab_size: 64,
    hidden_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    intermediate_size: 256,
    hidden_act: 'gelu',
    rotary_pct: 0.25,
    rotary_emb_base: 10000,
    attention_dropout: 0.0,
    hidden_dropout: 0.0,
    max_position_embeddings: 64,
    initializer_range: 0.02,
    layer_norm_eps: 1e-5,
    use_cache: true,
    bos_token_id: 0,
    eos_token_id: 0,
    tie_word_embeddings: false,
    use_parallel_residual: true,
    rope_scaling: null,
    attention_bias: true,
    torch_dtype: 'float32',
  };
}

function dims(cfg: GptNeoxHfConfig) {
  const d = cfg.hidden_size;
  const h = cfg.num_attention_heads;
  const dh = d / h;
  if (!Number.isInteger(dh)) throw new Error(`hidden_size ${d} is not divisible by num_attention_heads ${h}`);
  const rot = Math.trunc(dh * cfg.rotary_pct);
  if (rot % 2 !== 0) throw new Error(`rotary_ndims ${rot} is odd`);
  if (cfg.rope_scaling != null) throw new Error('rope_scaling is not implemented by the reference');
  return { d, h, dh, rot, f: cfg.intermediate_size, v: cfg.vocab_size, bias: cfg.attention_bias ?? true };
}

/** Every tensor of GPTNeoXForCausalLM's state_dict (embed_out.weight only when untied). */
export function randomGptNeoxCheckpoint(cfg: GptNeoxHfConfig, seed: number): Checkpoint {
  const t = tensorSource(seed);
  const { d, f, v, bias } = dims(cfg);
  const c: Checkpoint = new Map([['gpt_neox.embed_in.weight', t([v, d], 0.5)]]);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `gpt_neox.layers.${i}`;
    c.set(`${p}.input_layernorm.weight`, t([d], 1));
    c.set(`${p}.input_layernorm.bias`, t([d], 0.2));
    c.set(`${p}.post_attention_layernorm.weight`, t([d], 1));
    c.set(`${p}.post_attention_layernorm.bias`, t([d], 0.2));
    c.set(`${p}.attention.query_key_value.weight`, t([3 * d, d]));
    if (bias) c.set(`${p}.attention.query_key_value.bias`, t([3 * d]));
    c.set(`${p}.attention.dense.weight`, t([d, d]));
    if (bias) c.set(`${p}.attention.dense.bias`, t([d]));
    c.set(`${p}.mlp.dense_h_to_4h.weight`, t([f, d]));
    c.set(`${p}.mlp.dense_h_to_4h.bias`, t([f]));
    c.set(`${p}.mlp.dense_4h_to_h.weight`, t([d, f], 0.1));
    c.set(`${p}.mlp.dense_4h_to_h.bias`, t([d]));
  }
  c.set('gpt_neox.final_layer_norm.weight', t([d], 1));
  c.set('gpt_neox.final_layer_norm.bias', t([d], 0.2));
  if (!cfg.tie_word_embeddings) c.set('embed_out.weight', t([v, d], 0.5));
  return c;
}

/** Splits query_key_value's output [T][3 D] the GPT-NeoX way: per head [q | k | v] of Dh each. */
export function splitNeoxQkv(qkv: Matrix, nHead: number, headDim: number): { q: Matrix; k: Matrix; v: Matrix } {
  const pick = (which: number) =>
    qkv.map((row) => {
      const out: number[] = [];
      for (let hh = 0; hh < nHead; hh++) out.push(...row.slice((hh * 3 + which) * headDim, (hh * 3 + which + 1) * headDim));
      return out;
    });
  return { q: pick(0), k: pick(1), v: pick(2) };
}

/** GPTNeoXForCausalLM's logits [T][V] for one sequence, in float64. */
export function hfGptNeoxForward(cfg: GptNeoxHfConfig, c: Checkpoint, ids: number[]): number[][] {
  const { d, h, dh, rot, f, v, bias } = dims(cfg);
  const act = activation(cfg.hidden_act);
  const eps = cfg.layer_norm_eps;
  const ln = (m: Matrix, name: string) => layernorm(m, tensor(c, `${name}.weight`, [d]), tensor(c, `${name}.bias`, [d]), eps);
  const embed = tensor(c, 'gpt_neox.embed_in.weight', [v, d]);
  let x = embedding(embed, ids);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `gpt_neox.layers.${i}`;
    const qkv = linear(ln(x, `${p}.input_layernorm`), tensor(c, `${p}.attention.query_key_value.weight`, [3 * d, d]), bias ? tensor(c, `${p}.attention.query_key_value.bias`, [3 * d]) : undefined);
    const s = splitNeoxQkv(qkv, h, dh);
    const ctx = attention(ropeRows(s.q, h, dh, rot, cfg.rotary_emb_base), ropeRows(s.k, h, dh, rot, cfg.rotary_emb_base), s.v, { nHead: h, nKvHead: h, headDim: dh, scaling: dh ** -0.5 });
    const attnOut = linear(ctx, tensor(c, `${p}.attention.dense.weight`, [d, d]), bias ? tensor(c, `${p}.attention.dense.bias`, [d]) : undefined);
    const mlp = (m: Matrix) => {
      const hidden = mapMatrix(linear(m, tensor(c, `${p}.mlp.dense_h_to_4h.weight`, [f, d]), tensor(c, `${p}.mlp.dense_h_to_4h.bias`, [f])), act);
      return linear(hidden, tensor(c, `${p}.mlp.dense_4h_to_h.weight`, [d, f]), tensor(c, `${p}.mlp.dense_4h_to_h.bias`, [d]));
    };
    if (cfg.use_parallel_residual) {
      x = add(x, attnOut, mlp(ln(x, `${p}.post_attention_layernorm`)));
    } else {
      const y = add(x, attnOut);
      x = add(y, mlp(ln(y, `${p}.post_attention_layernorm`)));
    }
  }
  const head = cfg.tie_word_embeddings ? embed : tensor(c, 'embed_out.weight', [v, d]);
  return linear(ln(x, 'gpt_neox.final_layer_norm'), head);
}

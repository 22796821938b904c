/**
 * Gemma 2, float64 reference (TEST-ONLY), written from transformers' models/gemma2/modeling_gemma2.py and
 * modular_gemma2.py (Gemma2ForCausalLM, EAGER attention), no cache, one sequence, positions 0..T-1.
 *
 * HF behaviours followed:
 *  - embeddings scaled by torch.tensor(hidden_size ** 0.5, dtype) = Math.fround(Math.sqrt(hidden_size)) for
 *    float32 (as Gemma 1, see gemma.ts); Gemma2RMSNorm = x * rsqrt(mean x^2 + eps) * (1 + w) in float.
 *  - decoder layer (Gemma2DecoderLayer.forward):
 *      r = x; x = post_attention_layernorm(self_attn(input_layernorm(x))); x = r + x
 *      r = x; x = post_feedforward_layernorm(mlp(pre_feedforward_layernorm(x))); x = r + x
 *  - attention: head_dim from config; scaling = query_pre_attn_scalar ** -0.5 (NOT head_dim ** -0.5);
 *    scores soft-capped by attn_logit_softcapping (tanh(s / cap) * cap) after scaling and before the mask, when
 *    non-null; GQA via repeat_kv; rope halves over head_dim with rope_theta (default 10000); q/k/v/o biases only
 *    with attention_bias (default false).
 *  - alternating layers: layer i is sliding iff config.layer_types[i] == 'sliding_attention' when the config has
 *    layer_types (transformers >= 4.53), else iff i % 2 == 0 (older transformers: `is_sliding = not bool(layer_idx
 *    % 2)`; the newer default layer_types = ['sliding_attention' if (i + 1) % 2 else 'full_attention'] is the same
 *    pattern: layer 0 sliding, layer 1 full, ...). Sliding layers: query i sees key j iff j <= i and
 *    i - j < sliding_window (the older decoder layer's tril(diagonal = -sliding_window) mask and masking_utils'
 *    sliding_window_overlay agree on this).
 *  - MLP: down_proj(act(gate_proj(n)) * up_proj(n)), act = ACT2FN[hidden_activation] (default gelu_pytorch_tanh).
 *  - logits = lm_head(model.norm(x)) (tied to the unscaled embedding by default), then, when
 *    final_logit_softcapping is non-null, logits = tanh(logits / cap) * cap.
 * Caveats: HF's sdpa path in some 4.4x versions silently skipped attn_logit_softcapping (flash-attn < 2.6 too);
 * the reference is the eager path, which is what Gemma 2 is documented to need. use_bidirectional_attention and
 * rope_scaling are refused.
 */
import { activation, add, attention, embedding, linear, mapMatrix, mul, rmsnorm, ropeRows, ropeTheta, softcap, tensor, tensorSource, type Checkpoint, type Matrix, decoderDims } from './common.ts';
import { gemmaEmbedScale } from './gemma.ts';

export type Gemma2LayerType = 'sliding_attention' | 'full_attention';

export interface Gemma2HfConfig {
  model_type: 'gemma2';
  architectures?: string[];
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  hidden_act?: string;
  hidden_activation?: string | null;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta?: number;
  rope_scaling?: unknown;
  attention_bias?: boolean;
  attention_dropout?: number;
  query_pre_attn_scalar: number;
  sliding_window: number;
  final_logit_softcapping: number | null;
  attn_logit_softcapping: number | null;
  layer_types?: Gemma2LayerType[] | null;
  cache_implementation?: string;
  tie_word_embeddings?: boolean;
  use_bidirectional_attention?: boolean | null;
  pad_token_id?: number;
  bos_token_id?: number;
  eos_token_id?: number;
  torch_dtype?: string;
}

export function tinyGemma2Config(): Gemma2HfConfig {
  return {
    model_type: 'gemma2',
    architectures: ['Gemma2ForCausalLM'],
    vocab_size: 90,
    hidden_size: 40,
    intermediate_size: 64,
    num_hidden_layers: 3,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 12,
    hidden_act: 'gelu_pytorch_tanh',
    hidden_activation: 'gelu_pytorch_tanh',
    max_position_embeddings: 64,
    rms_norm_eps: 1e-6,
    rope_theta: 10000.0,
    attention_bias: false,
    attention_dropout: 0.0,
    // Apart from head_dim (12) so that using the wrong scaling shows.
    query_pre_attn_scalar: 16,
    sliding_window: 4,
    // Small caps (the real models use 30 and 50) so that the tanh is well away from linear on random weights.
    final_logit_softcapping: 3.0,
    attn_logit_softcapping: 1.5,
    cache_implementation: 'hybrid',
    tie_word_embeddings: true,
    pad_token_id: 0,
    eos_token_id: 1,
    bos_token_id: 2,
    torch_dtype: 'float32',
  };
}

/** Whether HF's Gemma 2 layer `i` uses the sliding window (layer_types when given, else even layers). */
export function gemma2LayerIsSliding(cfg: Pick<Gemma2HfConfig, 'layer_types' | 'num_hidden_layers'>, i: number): boolean {
  if (cfg.layer_types != null) {
    if (cfg.layer_types.length !== cfg.num_hidden_layers) throw new Error(`layer_types has ${cfg.layer_types.length} entries for ${cfg.num_hidden_layers} layers`);
    return cfg.layer_types[i] === 'sliding_attention';
  }
  return i % 2 === 0;
}

function dims(cfg: Gemma2HfConfig) {
  if (cfg.use_bidirectional_attention) throw new Error('use_bidirectional_attention is not implemented by the reference');
  return decoderDims(cfg);
}

/** Every tensor of Gemma2ForCausalLM's state_dict (lm_head.weight only when untied; biases only with attention_bias). */
export function randomGemma2Checkpoint(cfg: Gemma2HfConfig, seed: number): Checkpoint {
  const t = tensorSource(seed);
  const { d, h, kv, dh, f, v } = dims(cfg);
  const c: Checkpoint = new Map([['model.embed_tokens.weight', t([v, d], 0.3)]]);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    for (const [name, out, inDim] of [['q_proj', h * dh, d], ['k_proj', kv * dh, d], ['v_proj', kv * dh, d], ['o_proj', d, h * dh]] as const) {
      c.set(`${p}.self_attn.${name}.weight`, t([out, inDim]));
      if (cfg.attention_bias) c.set(`${p}.self_attn.${name}.bias`, t([out]));
    }
    c.set(`${p}.mlp.gate_proj.weight`, t([f, d]));
    c.set(`${p}.mlp.up_proj.weight`, t([f, d]));
    c.set(`${p}.mlp.down_proj.weight`, t([d, f]));
    for (const norm of ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm']) {
      c.set(`${p}.${norm}.weight`, t([d], 0.5));
    }
  }
  c.set('model.norm.weight', t([d], 0.5));
  if (cfg.tie_word_embeddings === false) c.set('lm_head.weight', t([v, d], 0.3));
  return c;
}

/** Gemma2ForCausalLM's logits [T][V] for one sequence, in float64 (eager attention). */
export function hfGemma2Forward(cfg: Gemma2HfConfig, c: Checkpoint, ids: number[]): number[][] {
  const { d, h, kv, dh, f, v } = dims(cfg);
  const theta = ropeTheta(cfg, 10000);
  const act = activation(cfg.hidden_activation ?? 'gelu_pytorch_tanh');
  const eps = cfg.rms_norm_eps;
  const norm = (m: Matrix, name: string) => rmsnorm(m, tensor(c, name, [d]), eps, true);
  const bias = (p: string, name: string) => (cfg.attention_bias ? tensor(c, `${p}.self_attn.${name}.bias`) : undefined);
  const embed = tensor(c, 'model.embed_tokens.weight', [v, d]);
  let x: Matrix = embedding(embed, ids, gemmaEmbedScale(d));
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    const n = norm(x, `${p}.input_layernorm.weight`);
    const q = ropeRows(linear(n, tensor(c, `${p}.self_attn.q_proj.weight`, [h * dh, d]), bias(p, 'q_proj')), h, dh, dh, theta);
    const k = ropeRows(linear(n, tensor(c, `${p}.self_attn.k_proj.weight`, [kv * dh, d]), bias(p, 'k_proj')), kv, dh, dh, theta);
    const val = linear(n, tensor(c, `${p}.self_attn.v_proj.weight`, [kv * dh, d]), bias(p, 'v_proj'));
    const ctx = attention(q, k, val, {
      nHead: h,
      nKvHead: kv,
      headDim: dh,
      scaling: cfg.query_pre_attn_scalar ** -0.5,
      slidingWindow: gemma2LayerIsSliding(cfg, i) ? cfg.sliding_window : null,
      softcap: cfg.attn_logit_softcapping,
    });
    const attnOut = linear(ctx, tensor(c, `${p}.self_attn.o_proj.weight`, [d, h * dh]), bias(p, 'o_proj'));
    x = add(x, norm(attnOut, `${p}.post_attention_layernorm.weight`));
    const n2 = norm(x, `${p}.pre_feedforward_layernorm.weight`);
    const gate = mapMatrix(linear(n2, tensor(c, `${p}.mlp.gate_proj.weight`, [f, d])), act);
    const up = linear(n2, tensor(c, `${p}.mlp.up_proj.weight`, [f, d]));
    const mlpOut = linear(mul(gate, up), tensor(c, `${p}.mlp.down_proj.weight`, [d, f]));
    x = add(x, norm(mlpOut, `${p}.post_feedforward_layernorm.weight`));
  }
  const head = cfg.tie_word_embeddings === false ? tensor(c, 'lm_head.weight', [v, d]) : embed;
  const logits = linear(norm(x, 'model.norm.weight'), head);
  const cap = cfg.final_logit_softcapping;
  return cap == null ? logits : mapMatrix(logits, (l) => softcap(l, cap));
}

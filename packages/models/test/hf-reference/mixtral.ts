/**
 * Mixtral, float64 reference (TEST-ONLY), written from transformers' models/mixtral/modeling_mixtral.py
 * (MixtralForCausalLM, eager attention), no cache, one sequence, positions 0..T-1.
 *
 * HF behaviours followed:
 *  - attention, norms, rope, embedding, lm_head exactly as Mistral (MixtralAttention = MistralAttention, no
 *    biases, head_dim from config or hidden / heads, rope_theta default 1e6, GQA); sliding_window (default null)
 *    applied like Mistral's when non-null: query i sees key j iff j <= i and i - j < sliding_window.
 *  - the MLP is MixtralSparseMoeBlock on n = post_attention_layernorm(x):
 *      router_logits = block_sparse_moe.gate(n)                          (nn.Linear [E, D], no bias)
 *      routing_weights = softmax(router_logits, dim=-1, dtype=float)      (over all E experts)
 *      top-k (num_experts_per_tok) by torch.topk; ties go to the LOWER expert index here (torch.topk does not
 *        document its tie order; for distinct probabilities, the only case random weights produce, it is moot)
 *      routing_weights /= sum of the k selected (Mixtral always renormalises; it has no norm_topk_prob switch)
 *      out = sum_k w_k * experts[e_k](n),  expert(n) = w2(silu(w1 n) * w3 n)   (act = ACT2FN[hidden_act])
 *    router_jitter_noise only acts in training (not modelled); the router logits are an output, not used here.
 *  - tensor names are the hub checkpoints' (and transformers 4.x state_dict's):
 *    model.layers.{i}.block_sparse_moe.gate.weight [E, D] and block_sparse_moe.experts.{e}.w1/w3.weight [F, D],
 *    w2.weight [D, F]. (transformers v5 fuses the experts into 3-D gate_up_proj/down_proj parameters at load
 *    time; the files on the hub keep these names.)
 * Not covered: rope_scaling (refused), training-time jitter and aux loss, padding masks.
 */
import { activation, add, attention, embedding, linear, rmsnorm, ropeRows, ropeTheta, softmax, tensor, tensorSource, type Checkpoint, type Matrix, decoderDims } from './common.ts';

export interface MixtralHfConfig {
  model_type: 'mixtral';
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
  num_local_experts: number;
  num_experts_per_tok: number;
  router_jitter_noise?: number;
  output_router_logits?: boolean;
  router_aux_loss_coef?: number;
  attention_dropout?: number;
  bos_token_id?: number;
  eos_token_id?: number;
  torch_dtype?: string;
}

export function tinyMixtralConfig(): MixtralHfConfig {
  return {
    model_type: 'mixtral',
    architectures: ['MixtralForCausalLM'],
    vocab_size: 72,
    hidden_size: 32,
    intermediate_size: 48,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: null,
    hidden_act: 'silu',
    max_position_embeddings: 64,
    rms_norm_eps: 1e-5,
    rope_theta: 1e6,
    sliding_window: 4,
    tie_word_embeddings: false,
    num_local_experts: 4,
    num_experts_per_tok: 2,
    router_jitter_noise: 0.0,
    output_router_logits: false,
    router_aux_loss_coef: 0.02,
    attention_dropout: 0.0,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
}

function dims(cfg: MixtralHfConfig) {
  const e = cfg.num_local_experts;
  if (!(cfg.num_experts_per_tok >= 1 && cfg.num_experts_per_tok <= e)) throw new Error(`num_experts_per_tok ${cfg.num_experts_per_tok} is not in 1..${e}`);
  return { ...decoderDims(cfg), e };
}

/** Every tensor of MixtralForCausalLM's state_dict as the hub checkpoints name them (lm_head.weight only when untied). */
export function randomMixtralCheckpoint(cfg: MixtralHfConfig, seed: number): Checkpoint {
  const t = tensorSource(seed);
  const { d, h, kv, dh, f, v, e } = dims(cfg);
  const c: Checkpoint = new Map([['model.embed_tokens.weight', t([v, d], 0.5)]]);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    c.set(`${p}.self_attn.q_proj.weight`, t([h * dh, d]));
    c.set(`${p}.self_attn.k_proj.weight`, t([kv * dh, d]));
    c.set(`${p}.self_attn.v_proj.weight`, t([kv * dh, d]));
    c.set(`${p}.self_attn.o_proj.weight`, t([d, h * dh]));
    // A wider router than the other matrices, so that the top-k choice differs between tokens.
    c.set(`${p}.block_sparse_moe.gate.weight`, t([e, d], 1));
    for (let x = 0; x < e; x++) {
      c.set(`${p}.block_sparse_moe.experts.${x}.w1.weight`, t([f, d]));
      c.set(`${p}.block_sparse_moe.experts.${x}.w2.weight`, t([d, f]));
      c.set(`${p}.block_sparse_moe.experts.${x}.w3.weight`, t([f, d]));
    }
    c.set(`${p}.input_layernorm.weight`, t([d], 1));
    c.set(`${p}.post_attention_layernorm.weight`, t([d], 1));
  }
  c.set('model.norm.weight', t([d], 1));
  if (!cfg.tie_word_embeddings) c.set('lm_head.weight', t([v, d], 0.5));
  return c;
}

/**
 * Mixtral's routing of one token: the k experts of highest probability (ties to the lower index) and their
 * probabilities renormalised to sum to 1, in the order torch.topk returns them (descending).
 */
export function mixtralRoute(probs: readonly number[], k: number): { experts: number[]; weights: number[] } {
  const order = probs.map((_, i) => i).sort((a, b) => probs[b]! - probs[a]! || a - b);
  const experts = order.slice(0, k);
  const total = experts.reduce((s, i) => s + probs[i]!, 0);
  return { experts, weights: experts.map((i) => probs[i]! / total) };
}

/** MixtralSparseMoeBlock on n [T][D]; also returns each token's chosen experts (for tests). */
export function mixtralMoe(cfg: MixtralHfConfig, c: Checkpoint, layer: number, n: Matrix): { out: Matrix; chosen: number[][] } {
  const { d, f, e } = dims(cfg);
  const p = `model.layers.${layer}.block_sparse_moe`;
  const act = activation(cfg.hidden_act);
  const router = linear(n, tensor(c, `${p}.gate.weight`, [e, d]));
  const chosen: number[][] = [];
  const out = n.map((row, t) => {
    const { experts, weights } = mixtralRoute(softmax(router[t]!), cfg.num_experts_per_tok);
    chosen.push(experts);
    const acc = new Array<number>(d).fill(0);
    experts.forEach((x, slot) => {
      const g = linear([row], tensor(c, `${p}.experts.${x}.w1.weight`, [f, d]))[0]!;
      const u = linear([row], tensor(c, `${p}.experts.${x}.w3.weight`, [f, d]))[0]!;
      const y = linear([g.map((gv, j) => act(gv) * u[j]!)], tensor(c, `${p}.experts.${x}.w2.weight`, [d, f]))[0]!;
      for (let j = 0; j < d; j++) acc[j]! += weights[slot]! * y[j]!;
    });
    return acc;
  });
  return { out, chosen };
}

/** MixtralForCausalLM's logits [T][V] for one sequence, in float64. */
export function hfMixtralForward(cfg: MixtralHfConfig, c: Checkpoint, ids: number[]): number[][] {
  const { d, h, kv, dh, v } = dims(cfg);
  const theta = ropeTheta(cfg, 1e6);
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
    x = add(x, mixtralMoe(cfg, c, i, n2).out);
  }
  const head = cfg.tie_word_embeddings ? embed : tensor(c, 'lm_head.weight', [v, d]);
  return linear(rmsnorm(x, tensor(c, 'model.norm.weight', [d]), eps), head);
}

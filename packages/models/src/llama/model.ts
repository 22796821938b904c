/**
 * The Llama lineage's decoders as graphs, following Hugging Face's modeling_llama (and, through
 * `cfg.variant`, modeling_mistral, _gemma, _gemma2, _gpt_neox and _phi3).
 *
 * Dimension letters: B batch, T sequence ('seq'), D hidden, H query heads, KV key/value heads,
 * Dh head size, F MLP width, V vocabulary, P positions (the KV cache's capacity), W a window.
 *
 * Weight names are Hugging Face's Llama names without the `model.` prefix (each family's mapping
 * says where its checkpoint keeps them); projections are stored [in, out]:
 *   embed_tokens.weight [V, D], norm.weight (and .bias for LayerNorm) [D], lm_head.weight [V, D] (absent when tied)
 *   layers.{i}.input_layernorm, layers.{i}.post_attention_layernorm [D]; Gemma 2 adds
 *     layers.{i}.pre_feedforward_layernorm and layers.{i}.post_feedforward_layernorm
 *   layers.{i}.self_attn.{q,k,v,o}_proj.weight ([D, H Dh], [D, KV Dh], [D, KV Dh], [H Dh, D]) and biases
 *   layers.{i}.mlp.{gate,up}_proj.weight [D, F], layers.{i}.mlp.down_proj.weight [F, D]; GPT-NeoX's MLP
 *     is layers.{i}.mlp.dense_h_to_4h.{weight,bias} [D, F], [F] and dense_4h_to_h.{weight,bias} [F, D], [D];
 *     Mixtral's is layers.{i}.block_sparse_moe.gate.weight [D, E] (the router) and the experts stacked:
 *     .experts.w1 and .experts.w3 [E, D, F] (gate, up), .experts.w2 [E, F, D] (down)
 */
import { ModelBuilder, type AttentionOptions, type Dim, type Graph } from '@loom/graph';
import { combineMasks, decodeStepInputs, lastPosition, pickPosition, tiedHead, windowKeysValues, type F32, type I32, type KeysValues } from '../blocks.ts';
import type { LlamaConfig } from './config.ts';

type Hidden = F32<readonly ['batch', Dim, number]>;

/**
 * How layer `layer`'s attention reads its keys and values, given the queries and the keys and
 * values this run's tokens project to (and the layer's window, scale and soft-cap): over this
 * run's tokens under the mask, or over a KV cache (decodeStepInputs, windowKeysValues).
 */
type SelfAttention = (layer: number, q: Hidden, fresh: KeysValues, options: AttentionOptions) => Hidden;

function projection(m: ModelBuilder, name: string, x: F32<readonly ['batch', Dim, Dim]>, inDim: number, outDim: number, bias: boolean): Hidden {
  const weight = m.param(`${name}.weight`, [inDim, outDim]);
  return bias ? m.linear(x, weight, m.param(`${name}.bias`, [outDim])) : m.linear(x, weight);
}

/** RMSNorm (x (offset + w): Gemma's offset is 1) or LayerNorm with a bias (GPT-NeoX). */
function norm(m: ModelBuilder, cfg: LlamaConfig, name: string, x: Hidden): Hidden {
  const n = cfg.variant.norm;
  const weight = m.param(`${name}.weight`, [cfg.hidden]);
  return n.kind === 'layer' ? m.layerNorm(x, weight, m.param(`${name}.bias`, [cfg.hidden]), cfg.eps) : m.rmsNorm(x, weight, cfg.eps, n.offset);
}

/** q [B, T, H Dh], k and v [B, T, KV Dh] of layer `i`, q and k rotated (a fraction of each head) at positions `offset` + 0..T-1. */
function qkv(m: ModelBuilder, cfg: LlamaConfig, p: string, x: Hidden, offset?: I32<readonly ['batch']>) {
  const [h, kv, dh, d] = [cfg.nHead, cfg.nKvHead, cfg.headDim, cfg.hidden];
  // rope works on [B, T, heads, Dh]: split the heads out and merge them back
  const rope = (t: Hidden, heads: number): Hidden =>
    m.reshape(m.rope(m.reshape(t, ['batch', -1, heads, dh]), { theta: cfg.ropeTheta, style: 'halves', fraction: cfg.variant.rotaryFraction, ...(offset ? { offset } : {}) }), ['batch', -1, heads * dh]);
  const q = rope(projection(m, `${p}.q_proj`, x, d, h * dh, cfg.qkvBias), h);
  const k = rope(projection(m, `${p}.k_proj`, x, d, kv * dh, cfg.qkvBias), kv);
  const v = projection(m, `${p}.v_proj`, x, d, kv * dh, cfg.qkvBias);
  return { q, k, v };
}

/** Layer `layer`'s MLP (under `.mlp`, or Mixtral's `.block_sparse_moe`). */
function mlp(m: ModelBuilder, cfg: LlamaConfig, layer: string, x: Hidden): Hidden {
  const [d, f] = [cfg.hidden, cfg.intermediate];
  const kind = cfg.variant.mlp;
  if (kind.kind === 'moe') {
    const p = `${layer}.block_sparse_moe`;
    const e = kind.experts;
    return m.moeFfn(x, m.param(`${p}.gate.weight`, [d, e]), m.param(`${p}.experts.w1`, [e, d, f]), m.param(`${p}.experts.w3`, [e, d, f]), m.param(`${p}.experts.w2`, [e, f, d]), { k: kind.k });
  }
  const p = `${layer}.mlp`;
  if (kind.kind === 'ffn') {
    return m.ffn(x, m.param(`${p}.dense_h_to_4h.weight`, [d, f]), m.param(`${p}.dense_h_to_4h.bias`, [f]), m.param(`${p}.dense_4h_to_h.weight`, [f, d]), m.param(`${p}.dense_4h_to_h.bias`, [d]), kind.activation);
  }
  return m.gluFfn(x, m.param(`${p}.gate_proj.weight`, [d, f]), m.param(`${p}.up_proj.weight`, [d, f]), m.param(`${p}.down_proj.weight`, [f, d]), kind.activation);
}

function head(m: ModelBuilder, cfg: LlamaConfig, x: Hidden, embed: F32<readonly [number, number]>): Hidden {
  const table = cfg.tieEmbeddings ? embed : m.param('lm_head.weight', [cfg.vocabSize, cfg.hidden]);
  const logits = tiedHead(m, norm(m, cfg, 'norm', x), table); // (B, T, V): x @ table^T
  const cap = cfg.variant.finalSoftcap;
  return cap === null ? logits : m.mul(m.unary('tanh', m.mul(logits, 1 / cap)), cap); // Gemma 2: cap tanh(logits / cap)
}

function embedTokens(m: ModelBuilder, cfg: LlamaConfig, ids: I32<readonly ['batch', Dim]>, embed: F32<readonly [number, number]>): Hidden {
  return m.embed(ids, embed, cfg.variant.embedScale ?? 1);
}

/**
 * The decoder stack. Llama: h = x + o(attn(rope(q(n1(x))), rope(k(n1(x))), v(n1(x)))); out = h + mlp(n2(h)).
 * GPT-NeoX's parallel residual: out = x + attn(n1(x)) + mlp(n2(x)). Gemma 2's sandwich norms: the
 * attention's output goes through post_attention_layernorm before the residual, and the MLP is
 * post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h))).
 */
function layers(m: ModelBuilder, cfg: LlamaConfig, x: Hidden, attend: SelfAttention, offset?: I32<readonly ['batch']>): Hidden {
  const width = cfg.nHead * cfg.headDim;
  const v = cfg.variant;
  for (let i = 0; i < cfg.nLayer; i++) {
    const p = `layers.${i}`;
    const { q, ...fresh } = qkv(m, cfg, `${p}.self_attn`, norm(m, cfg, `${p}.input_layernorm`, x), offset);
    const window = v.layerWindows[i] ?? null;
    const options: AttentionOptions = { ...(v.attentionScale !== null ? { scale: v.attentionScale } : {}), ...(v.attentionSoftcap !== null ? { softcap: v.attentionSoftcap } : {}), ...(window !== null ? { window } : {}) };
    let attended = projection(m, `${p}.self_attn.o_proj`, attend(i, q, fresh, options), width, cfg.hidden, cfg.oBias);
    if (v.parallelResidual) {
      x = m.add(m.add(x, attended), mlp(m, cfg, p, norm(m, cfg, `${p}.post_attention_layernorm`, x)));
      continue;
    }
    if (v.sandwichNorms) attended = norm(m, cfg, `${p}.post_attention_layernorm`, attended);
    x = m.add(x, attended);
    const inner = norm(m, cfg, `${p}.${v.sandwichNorms ? 'pre_feedforward_layernorm' : 'post_attention_layernorm'}`, x);
    const out = mlp(m, cfg, p, inner);
    x = m.add(x, v.sandwichNorms ? norm(m, cfg, `${p}.post_feedforward_layernorm`, out) : out);
  }
  return x;
}

export interface LlamaGraphOptions {
  /** Add the `attention_mask` input [batch, seq] i32 (1 = token, 0 = padding), as Hugging Face takes it. */
  readonly attentionMask?: boolean;
  /** Output only each row's last (kept) position's logits, [batch, 1, V]. */
  readonly lastOnly?: boolean;
}

/** `input_ids` i32 [batch, seq] (and optionally `attention_mask`) -> `logits` f32 [batch, seq, V]. */
export function buildLlama(cfg: LlamaConfig, options: LlamaGraphOptions = {}): Graph {
  const m = new ModelBuilder();
  const ids = m.input('input_ids', 'i32', ['batch', 'seq']);
  const keep = options.attentionMask ? m.input('attention_mask', 'i32', ['batch', 'seq']) : undefined;
  const embed = m.param('embed_tokens.weight', [cfg.vocabSize, cfg.hidden]);
  let mask: F32 = m.causalMask(ids); // (T, T)
  if (keep) mask = combineMasks(m, mask, m.paddingMask(keep, null)); // (B, 1, T, T)
  // every layer attends over this run's tokens; a windowed layer within its window as well
  const attend: SelfAttention = (_, q, fresh, o) => m.groupedAttention(q, fresh.k, fresh.v, cfg.nHead, cfg.nKvHead, { ...o, mask });
  const x = layers(m, cfg, embedTokens(m, cfg, ids, embed), attend);
  return m.build({ logits: head(m, cfg, options.lastOnly ? lastPosition(m, x, keep) : x, embed) });
}

/**
 * The decoder with a key/value cache, for decoding at a flat cost per token. Inputs: input_ids [B, T],
 * position [B] (where each row's new tokens start: their rotary offset and cache slot), last_index
 * [B] (whose logits to return), cache.{k,v}.{i} [B, P, KV Dh] (states). Outputs: logits [B, 1, V] and
 * the updated caches. Grouped attention reads each kv head for its group of H / KV query heads as a
 * broadcast, never a repeated copy. A layer with a sliding window keeps a ring of its window's W
 * positions instead (windowKeysValues): its memory is bounded by W however long the text grows.
 */
export function buildCachedLlama(cfg: LlamaConfig, options: { seq?: 'seq' | 1 } = {}): Graph {
  const m = new ModelBuilder();
  const steps = decodeStepInputs(m, options.seq ?? 'seq', cfg.maxPositions); // mask (B, 1, T, P)
  const embed = m.param('embed_tokens.weight', [cfg.vocabSize, cfg.hidden]);
  const attend: SelfAttention = (i, q, fresh, o) => {
    if (o.window === undefined) {
      const { k, v } = steps.cache(i, fresh);
      return m.groupedAttention(q, k, v, cfg.nHead, cfg.nKvHead, { ...o, mask: steps.mask });
    }
    const ring = windowKeysValues(m, i, fresh, steps, o.window);
    return m.groupedAttention(q, ring.k, ring.v, cfg.nHead, cfg.nKvHead, { ...o, positions: { q: steps.positions, k: ring.positions } });
  };
  const x = layers(m, cfg, embedTokens(m, cfg, steps.ids, embed), attend, steps.position);
  return m.build({ logits: head(m, cfg, pickPosition(m, x, steps.lastIndex), embed) });
}

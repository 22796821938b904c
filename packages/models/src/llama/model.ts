/**
 * The Llama family (Llama, Mistral, Qwen2) as graphs, following Hugging Face's modeling_llama.
 *
 * Dimension letters: B batch, T sequence ('seq'), D hidden, H query heads, KV key/value heads,
 * Dh head size, F MLP width, V vocabulary, P positions (the KV cache's capacity).
 *
 * Weight names are Hugging Face's without the `model.` prefix; projections are stored [in, out]
 * (the mapping transposes nn.Linear's [out, in] once at load):
 *   embed_tokens.weight [V, D], norm.weight [D], lm_head.weight [V, D] (absent when tied)
 *   layers.{i}.input_layernorm.weight, layers.{i}.post_attention_layernorm.weight [D]
 *   layers.{i}.self_attn.{q,k,v,o}_proj.weight ([D, H Dh], [D, KV Dh], [D, KV Dh], [H Dh, D]) and
 *     the q/k/v biases of Qwen2 (o_proj's too with Llama's attention_bias)
 *   layers.{i}.mlp.{gate,up}_proj.weight [D, F], layers.{i}.mlp.down_proj.weight [F, D]
 * n1, n2 are RMSNorm; attention is causal and grouped (H / KV query heads per kv head).
 */
import { ModelBuilder, type Dim, type Graph } from '@loom/graph';
import { combineMasks, decodeStepInputs, lastPosition, ownKeysValues, pickPosition, tiedHead, type F32, type I32, type SelfKeysValues } from '../blocks.ts';
import type { LlamaConfig } from './config.ts';

type Hidden = F32<readonly ['batch', Dim, number]>;

function projection(m: ModelBuilder, name: string, x: F32<readonly ['batch', Dim, Dim]>, inDim: number, outDim: number, bias: boolean): Hidden {
  const weight = m.param(`${name}.weight`, [inDim, outDim]);
  return bias ? m.linear(x, weight, m.param(`${name}.bias`, [outDim])) : m.linear(x, weight);
}

function rmsNorm(m: ModelBuilder, cfg: LlamaConfig, name: string, x: Hidden): Hidden {
  return m.rmsNorm(x, m.param(`${name}.weight`, [cfg.hidden]), cfg.eps);
}

/** q [B, T, H Dh], k and v [B, T, KV Dh] of layer `i`, q and k rotated at positions `offset` + 0..T-1. */
function qkv(m: ModelBuilder, cfg: LlamaConfig, p: string, x: Hidden, offset?: I32<readonly ['batch']>) {
  const [h, kv, dh, d] = [cfg.nHead, cfg.nKvHead, cfg.headDim, cfg.hidden];
  // rope works on [B, T, heads, Dh]: split the heads out and merge them back
  const rope = (t: Hidden, heads: number): Hidden =>
    m.reshape(m.rope(m.reshape(t, ['batch', -1, heads, dh]), { theta: cfg.ropeTheta, style: 'halves', ...(offset ? { offset } : {}) }), ['batch', -1, heads * dh]);
  const q = rope(projection(m, `${p}.q_proj`, x, d, h * dh, cfg.qkvBias), h);
  const k = rope(projection(m, `${p}.k_proj`, x, d, kv * dh, cfg.qkvBias), kv);
  const v = projection(m, `${p}.v_proj`, x, d, kv * dh, cfg.qkvBias);
  return { q, k, v };
}

function mlp(m: ModelBuilder, cfg: LlamaConfig, p: string, x: Hidden): Hidden {
  const [d, f] = [cfg.hidden, cfg.intermediate];
  return m.gluFfn(x, m.param(`${p}.gate_proj.weight`, [d, f]), m.param(`${p}.up_proj.weight`, [d, f]), m.param(`${p}.down_proj.weight`, [f, d]), 'silu');
}

function head(m: ModelBuilder, cfg: LlamaConfig, x: Hidden, embed: F32<readonly [number, number]>): Hidden {
  const table = cfg.tieEmbeddings ? embed : m.param('lm_head.weight', [cfg.vocabSize, cfg.hidden]);
  return tiedHead(m, rmsNorm(m, cfg, 'norm', x), table); // (B, T, V): x @ table^T
}

/** The decoder stack: h = x + o(attn(rope(q(n1(x))), rope(k(n1(x))), v(n1(x)))); out = h + mlp(n2(h)). */
function layers(m: ModelBuilder, cfg: LlamaConfig, x: Hidden, mask: F32, kv: SelfKeysValues, offset?: I32<readonly ['batch']>): Hidden {
  const width = cfg.nHead * cfg.headDim;
  for (let i = 0; i < cfg.nLayer; i++) {
    const p = `layers.${i}`;
    const { q, ...fresh } = qkv(m, cfg, `${p}.self_attn`, rmsNorm(m, cfg, `${p}.input_layernorm`, x), offset);
    const { k, v } = kv(i, fresh); // (B, T or P, KV Dh)
    const attended = m.groupedAttention(q, k, v, cfg.nHead, cfg.nKvHead, mask); // (B, T, H Dh)
    x = m.add(x, projection(m, `${p}.self_attn.o_proj`, attended, width, cfg.hidden, cfg.oBias));
    x = m.add(x, mlp(m, cfg, `${p}.mlp`, rmsNorm(m, cfg, `${p}.post_attention_layernorm`, x)));
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
  const x = layers(m, cfg, m.embed(ids, embed), mask, ownKeysValues);
  return m.build({ logits: head(m, cfg, options.lastOnly ? lastPosition(m, x, keep) : x, embed) });
}

/**
 * The Llama family with a key/value cache, for decoding at a flat cost per token. Inputs:
 * input_ids [B, T], position [B] (where each row's new tokens start: their rotary offset and cache
 * slot), last_index [B] (whose logits to return), cache.{k,v}.{i} [B, P, KV Dh] (states). Outputs:
 * logits [B, 1, V] and the updated caches. Grouped attention reads each kv head for its group of
 * H / KV query heads as a broadcast, never a repeated copy.
 */
export function buildCachedLlama(cfg: LlamaConfig, options: { seq?: 'seq' | 1 } = {}): Graph {
  const m = new ModelBuilder();
  const { ids, position, lastIndex, mask, cache } = decodeStepInputs(m, options.seq ?? 'seq', cfg.maxPositions); // mask (B, 1, T, P)
  const embed = m.param('embed_tokens.weight', [cfg.vocabSize, cfg.hidden]);
  const x = layers(m, cfg, m.embed(ids, embed), mask, cache, position);
  return m.build({ logits: head(m, cfg, pickPosition(m, x, lastIndex), embed) });
}

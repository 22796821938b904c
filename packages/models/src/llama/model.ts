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
 * A block: h = x + o(attn(rope(q(n1(x))), rope(k(n1(x))), v(n1(x)))); out = h + mlp(n2(h)), with
 * n1, n2 RMSNorm, attention causal and grouped (H / KV query heads per kv head).
 */
import { MASKED, ModelBuilder, Tensor, type Dim, type Graph, type Shape } from '@loom/graph';
import { combineMasks, lastPosition, tiedHead, type F32, type I32 } from '../blocks.ts';
import type { LlamaConfig } from './config.ts';

type Hidden = F32<readonly ['batch', Dim, number]>;

function op<S extends Shape = Shape>(m: ModelBuilder, name: string, inputs: readonly Tensor[], attrs: Record<string, unknown> = {}): F32<S> {
  return new Tensor(m, m.graph.add(name, inputs.map((t) => t.ref), attrs));
}

function projection(m: ModelBuilder, cfg: LlamaConfig, name: string, x: Hidden, inDim: number, outDim: number, bias: boolean): Hidden {
  const weight = m.param(`${name}.weight`, [inDim, outDim]);
  return (bias ? m.linear(x, weight, m.param(`${name}.bias`, [outDim])) : m.linear(x, weight)) as unknown as Hidden;
}

function rmsNorm(m: ModelBuilder, cfg: LlamaConfig, name: string, x: Hidden): Hidden {
  return m.rmsNorm(x, m.param(`${name}.weight`, [cfg.hidden]), cfg.eps);
}

/** q, k, v of layer `i` with rotary positions from `offset` on: q [B, T, H, Dh], k and v [B, T, KV, Dh]. */
function qkv(m: ModelBuilder, cfg: LlamaConfig, p: string, x: Hidden, offset?: I32<readonly ['batch']>) {
  const [h, kv, dh, d] = [cfg.nHead, cfg.nKvHead, cfg.headDim, cfg.hidden];
  const split = (t: Hidden, heads: number) => m.reshape(t, ['batch', -1, heads, dh] as const) as unknown as F32<readonly ['batch', Dim, number, number]>;
  const rope = (t: F32<readonly ['batch', Dim, number, number]>) => m.rope(t, { theta: cfg.ropeTheta, style: 'halves', ...(offset ? { offset } : {}) });
  const q = rope(split(projection(m, cfg, `${p}.q_proj`, x, d, h * dh, cfg.qkvBias), h));
  const k = rope(split(projection(m, cfg, `${p}.k_proj`, x, d, kv * dh, cfg.qkvBias), kv));
  const v = split(projection(m, cfg, `${p}.v_proj`, x, d, kv * dh, cfg.qkvBias), kv);
  return { q, k, v };
}

function mlp(m: ModelBuilder, cfg: LlamaConfig, p: string, x: Hidden): Hidden {
  const [d, f] = [cfg.hidden, cfg.intermediate];
  return m.gluFfn(x, m.param(`${p}.gate_proj.weight`, [d, f]), m.param(`${p}.up_proj.weight`, [d, f]), m.param(`${p}.down_proj.weight`, [f, d]), 'silu');
}

function head(m: ModelBuilder, cfg: LlamaConfig, x: F32<readonly ['batch', Dim, number]>, embed: F32<readonly [number, number]>): F32 {
  const table = cfg.tieEmbeddings ? embed : m.param('lm_head.weight', [cfg.vocabSize, cfg.hidden]);
  return tiedHead(m, rmsNorm(m, cfg, 'norm', x), table); // (B, T, V): x @ table^T
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
  const ids = m.input('input_ids', 'i32', ['batch', 'seq'] as const);
  const keep = options.attentionMask ? m.input('attention_mask', 'i32', ['batch', 'seq'] as const) : undefined;
  const embed = m.param('embed_tokens.weight', [cfg.vocabSize, cfg.hidden]);
  let mask: F32 = m.causalMask(ids); // (T, T)
  if (keep) mask = combineMasks(m, mask, m.paddingMask(keep, null)); // (B, 1, T, T)
  let x = m.embed(ids, embed) as unknown as Hidden; // (B, T, D)
  const merge = (t: F32) => m.reshape(t as F32<readonly ['batch', Dim, number, number]>, ['batch', -1, cfg.nHead * cfg.headDim] as const) as unknown as Hidden;
  const flat = (t: F32<readonly ['batch', Dim, number, number]>, heads: number) => m.reshape(t, ['batch', -1, heads * cfg.headDim] as const) as unknown as Hidden;
  for (let i = 0; i < cfg.nLayer; i++) {
    const p = `layers.${i}`;
    const { q, k, v } = qkv(m, cfg, `${p}.self_attn`, rmsNorm(m, cfg, `${p}.input_layernorm`, x));
    const attended = m.groupedAttention(merge(q), flat(k, cfg.nKvHead), flat(v, cfg.nKvHead), cfg.nHead, cfg.nKvHead, mask);
    x = m.add(x, projection(m, cfg, `${p}.self_attn.o_proj`, attended, cfg.nHead * cfg.headDim, cfg.hidden, cfg.oBias));
    x = m.add(x, mlp(m, cfg, `${p}.mlp`, rmsNorm(m, cfg, `${p}.post_attention_layernorm`, x)));
  }
  const last = options.lastOnly ? lastPosition(m, x, keep) : x;
  return m.build({ logits: head(m, cfg, last, embed) });
}

export const llamaCacheName = (kind: 'k' | 'v', layer: number): string => `cache.${kind}.${layer}`;

/**
 * The Llama family with a key/value cache, for decoding at a flat cost per token. Inputs:
 * input_ids [B, T], position [B] (where each row's new tokens start: their rotary offset and cache
 * slot), last_index [B] (whose logits to return), cache.{k,v}.{i} [B, KV, P, Dh] (states). Outputs:
 * logits [B, 1, V] and the updated caches. Each group of H / KV query heads attends to its kv head
 * as a broadcast ([B, KV, G, T, Dh] against [B, KV, 1, P, Dh]), never a repeated copy.
 */
export function buildCachedLlama(cfg: LlamaConfig, options: { seq?: 'seq' | 1 } = {}): Graph {
  const m = new ModelBuilder();
  const seq = options.seq ?? 'seq';
  const [h, kvh, dh, P] = [cfg.nHead, cfg.nKvHead, cfg.headDim, cfg.maxPositions];
  const group = h / kvh;
  const ids = m.input('input_ids', 'i32', ['batch', seq] as const) as I32<readonly ['batch', 'seq']>;
  const position = m.input('position', 'i32', ['batch'] as const);
  const lastIndex = m.input('last_index', 'i32', ['batch'] as const);
  const embed = m.param('embed_tokens.weight', [cfg.vocabSize, cfg.hidden]);

  // a query at absolute position p sees cache slots 0..p
  const positions = op(m, 'add', [m.reshape(position, ['batch', 1] as const), m.reshape(m.range(seq), [1, seq] as const)]); // (B, T)
  const slots = m.reshape(m.range(P), [1, 1, 1, 1, P] as const);
  const future = op(m, 'greater', [slots, m.reshape(positions as never, ['batch', 1, 1, seq, 1] as const)]); // (B, 1, 1, T, P)
  const mask = op(m, 'where', [future, m.constant(MASKED), m.constant(0)]);

  const states: Record<string, Tensor> = {};
  let x = m.embed(ids, embed) as unknown as Hidden;
  for (let i = 0; i < cfg.nLayer; i++) {
    const p = `layers.${i}`;
    const { q, k, v } = qkv(m, cfg, `${p}.self_attn`, rmsNorm(m, cfg, `${p}.input_layernorm`, x), position);
    const toCache = (kind: 'k' | 'v', fresh: F32) => {
      const cache = m.input(llamaCacheName(kind, i), 'f32', ['batch', kvh, P, dh] as const);
      const updated = op(m, 'cache_update', [cache, op(m, 'transpose', [fresh], { perm: [0, 2, 1, 3] }), position], { axis: 2 }); // (B, KV, P, Dh)
      states[llamaCacheName(kind, i)] = updated;
      return m.reshape(updated as never, ['batch', kvh, 1, P, dh] as const);
    };
    const [keys, values] = [toCache('k', k), toCache('v', v)];
    const queries = op(m, 'reshape', [op(m, 'transpose', [q], { perm: [0, 2, 1, 3] })], { shape: ['batch', kvh, group, seq, dh] }); // (B, KV, G, T, Dh)
    const scores = op(m, 'add', [op(m, 'mul', [op(m, 'matmul', [queries, keys], { transposeB: true }), m.constant(1 / Math.sqrt(dh))]), mask]); // (B, KV, G, T, P)
    const context = op(m, 'matmul', [m.softmax(scores), values]); // (B, KV, G, T, Dh)
    const merged = op(m, 'reshape', [op(m, 'transpose', [op(m, 'reshape', [context], { shape: ['batch', h, seq, dh] })], { perm: [0, 2, 1, 3] })], { shape: ['batch', seq, h * dh] });
    x = m.add(x, projection(m, cfg, `${p}.self_attn.o_proj`, merged as unknown as Hidden, h * dh, cfg.hidden, cfg.oBias));
    x = m.add(x, mlp(m, cfg, `${p}.mlp`, rmsNorm(m, cfg, `${p}.post_attention_layernorm`, x)));
  }
  const pick = m.cast(m.compare('equal', m.reshape(m.range(seq), [1, seq] as const), m.reshape(lastIndex, ['batch', 1] as const) as never), 'f32'); // (B, T)
  const last = op<readonly ['batch', 1, number]>(m, 'reduce_sum', [m.mul(x as never, m.reshape(pick, ['batch', seq, 1] as const) as never)], { axes: [1], keepDims: true });
  return m.build({ logits: head(m, cfg, last, embed), ...states });
}

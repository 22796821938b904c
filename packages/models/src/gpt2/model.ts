/**
 * GPT-2 as a graph, following the Hugging Face / nanoGPT layout.
 *
 * Dimension letters:
 *   B  batch        T  sequence length ('seq')   C  n_embd (residual width)
 *   H  heads        V  vocabulary                P  positions (n_positions)
 *
 * Weight names are Hugging Face's without the `transformer.` prefix (Conv1D weights are [in, out]):
 *   wte.weight [V, C], wpe.weight [P, C], ln_f.{weight,bias} [C]
 *   h.{i}.ln_1.*, h.{i}.attn.c_attn.{weight [C, 3C], bias}, h.{i}.attn.c_proj.{weight [C, C], bias}
 *   h.{i}.ln_2.*, h.{i}.mlp.c_fc.{weight [C, 4C], bias}, h.{i}.mlp.c_proj.{weight [4C, C], bias}
 * The LM head is wte itself: logits = ln_f(x) @ wte^T.
 *
 * `buildCachedGpt2` is the same stack over a key/value cache, for decoding one token at a time at a
 * flat cost per token: T is then the new tokens of a run ('seq' at prefill, 1 per step) and the
 * caches cache.{k,v}.{i} [B, P, C] are states, kept by the backend between runs (see StateStore).
 */
import { ModelBuilder, type Dim, type Graph } from '@loom/graph';
import { combineMasks, decodeStepInputs, layerNorm, lastPosition, linear, ownKeysValues, pickPosition, tiedHead, type F32, type I32, type SelfKeysValues } from '../blocks.ts';
import type { Gpt2Config } from './config.ts';

type Hidden = F32<readonly ['batch', 'seq' | 1, number]>;

/** Causal self-attention: one fused projection to q, k, v, attention over the past (this run's keys and values, or the cache's), output projection. */
function attn(m: ModelBuilder, cfg: Gpt2Config, layer: number, x: Hidden, mask: F32, kv: SelfKeysValues): Hidden {
  const p = `h.${layer}.attn`;
  const c = cfg.nEmbd;
  const qkv = linear(m, `${p}.c_attn`, x, c, 3 * c); // (B, T, 3C)
  const q = m.slice(qkv, -1, 0, c); // (B, T, C)
  const { k, v } = kv(layer, { k: m.slice(qkv, -1, c, 2 * c), v: m.slice(qkv, -1, 2 * c, 3 * c) }); // (B, T or P, C)
  const y = m.attention(q, k, v, cfg.nHead, mask); // (B, T, C), heads split and merged inside
  return linear(m, `${p}.c_proj`, y, c, c);
}

/** The MLP: act(x W_fc + b_fc) W_proj + b_proj. */
function mlp(m: ModelBuilder, cfg: Gpt2Config, p: string, x: Hidden): Hidden {
  const [c, f] = [cfg.nEmbd, cfg.nInner];
  const wFc = m.param(`${p}.c_fc.weight`, [c, f]);
  const bFc = m.param(`${p}.c_fc.bias`, [f]);
  const wProj = m.param(`${p}.c_proj.weight`, [f, c]);
  const bProj = m.param(`${p}.c_proj.bias`, [c]);
  return m.ffn(x, wFc, bFc, wProj, bProj, cfg.activation);
}

/** The blocks, each pre-norm: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)). */
function blocks(m: ModelBuilder, cfg: Gpt2Config, x: Hidden, mask: F32, kv: SelfKeysValues): Hidden {
  for (let i = 0; i < cfg.nLayer; i++) {
    x = m.add(x, attn(m, cfg, i, layerNorm(m, `h.${i}.ln_1`, x, cfg.nEmbd, cfg.eps), mask, kv));
    x = m.add(x, mlp(m, cfg, `h.${i}.mlp`, layerNorm(m, `h.${i}.ln_2`, x, cfg.nEmbd, cfg.eps)));
  }
  return x;
}

export interface Gpt2GraphOptions {
  /** Add the `attention_mask` input [batch, seq] i32 (1 = token, 0 = padding), as Hugging Face takes it. */
  readonly attentionMask?: boolean;
  /**
   * Output only the logits of each row's last position, `logits` [batch, 1, V]: the last position
   * where attention_mask is 1 (right padding), or the last position overall without a mask. The
   * hidden state is selected before ln_f and the head, so the V-wide matmul runs on one row.
   */
  readonly lastOnly?: boolean;
}

/** GPT-2: `input_ids` i32 [batch, seq] (and optionally `attention_mask`) -> `logits` f32 [batch, seq, V]. */
export function buildGpt2(cfg: Gpt2Config, options: Gpt2GraphOptions = {}): Graph {
  const m = new ModelBuilder();
  const ids = m.input('input_ids', 'i32', ['batch', 'seq']);
  const keep: I32<readonly ['batch', 'seq']> | undefined = options.attentionMask ? m.input('attention_mask', 'i32', ['batch', 'seq']) : undefined;
  const wte = m.param('wte.weight', [cfg.vocabSize, cfg.nEmbd]);
  const wpe = m.param('wpe.weight', [cfg.nPositions, cfg.nEmbd]);

  let mask: F32 = m.causalMask(ids); // (T, T)
  if (keep) mask = combineMasks(m, mask, m.paddingMask(keep, null)); // (B, 1, T, T): no padding keys either

  const x = blocks(m, cfg, m.learnedPosenc(m.embed(ids, wte), wpe), mask, ownKeysValues); // (B, T, C)

  const last: F32<readonly ['batch', Dim, number]> = options.lastOnly ? lastPosition(m, x, keep) : x; // (B, 1, C) or (B, T, C)
  const logits = tiedHead(m, layerNorm(m, 'ln_f', last, cfg.nEmbd, cfg.eps), wte); // (B, 1 or T, V)
  return m.build({ logits });
}

/**
 * GPT-2 over a key/value cache. Inputs: input_ids [B, T] i32, position [B] i32 (where each row's new
 * tokens start), last_index [B] i32 (which new token's logits to return), cache.{k,v}.{i} [B, P, C]
 * (states). Outputs: logits [B, 1, V] and the updated caches under the same names. A query at
 * position p sees cache slots 0..p (`decodeStepInputs`' mask).
 */
export function buildCachedGpt2(cfg: Gpt2Config, options: { seq?: 'seq' | 1 } = {}): Graph {
  const m = new ModelBuilder();
  const { ids, lastIndex, positions, mask, cache } = decodeStepInputs(m, options.seq ?? 'seq', cfg.nPositions); // positions (B, T), mask (B, 1, T, P)
  const wte = m.param('wte.weight', [cfg.vocabSize, cfg.nEmbd]);
  const wpe = m.param('wpe.weight', [cfg.nPositions, cfg.nEmbd]);
  const x = blocks(m, cfg, m.learnedPosenc(m.embed(ids, wte), wpe, positions), mask, cache); // (B, T, C)
  const last = pickPosition(m, x, lastIndex); // (B, 1, C)
  return m.build({ logits: tiedHead(m, layerNorm(m, 'ln_f', last, cfg.nEmbd, cfg.eps), wte) }); // (B, 1, V)
}

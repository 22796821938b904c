/**
 * GPT-2 with a key/value cache, for decoding one token at a time at a flat cost per token.
 *
 * Dimension letters: B batch, T new tokens this run ('seq': the prompt at prefill, 1 when decoding),
 * P cache capacity (n_positions), C width, H heads, V vocabulary.
 *
 * Inputs:  input_ids [B, T] i32, position [B] i32 (where each row's new tokens start),
 *          last_index [B] i32 (which new token's logits to return), cache.{k,v}.{i} [B, P, C].
 * Outputs: logits [B, 1, V] and the updated caches under the same names: they are states, kept by
 *          the backend between runs and updated in place (see StateStore).
 * A query at position p sees cache slots 0..p (`decodeStepInputs`' mask).
 */
import { ModelBuilder, type Graph } from '@loom/graph';
import { appendToCache, decodeStepInputs, layerNorm, linear, pickPosition, tiedHead, type F32, type I32 } from '../blocks.ts';
import type { Gpt2Config } from './config.ts';

type Hidden = F32<readonly ['batch', 'seq' | 1, number]>;

export const cacheName = (kind: 'k' | 'v', layer: number): string => `cache.${kind}.${layer}`;

/** Causal self-attention over the cache: the new k and v are written at `position`, q attends to slots 0..position+i. */
function cachedAttn(m: ModelBuilder, cfg: Gpt2Config, layer: number, x: Hidden, position: I32<readonly ['batch']>, mask: F32): Hidden {
  const p = `h.${layer}.attn`;
  const c = cfg.nEmbd;
  const qkv = linear(m, `${p}.c_attn`, x, c, 3 * c); // (B, T, 3C)
  const q = m.slice(qkv, -1, 0, c); // (B, T, C)
  const k = appendToCache(m, cacheName('k', layer), m.slice(qkv, -1, c, 2 * c), position, cfg.nPositions); // (B, P, C)
  const v = appendToCache(m, cacheName('v', layer), m.slice(qkv, -1, 2 * c, 3 * c), position, cfg.nPositions); // (B, P, C)
  return linear(m, `${p}.c_proj`, m.attention(q, k, v, cfg.nHead, mask), c, c);
}

function mlp(m: ModelBuilder, cfg: Gpt2Config, p: string, x: Hidden): Hidden {
  const [c, f] = [cfg.nEmbd, cfg.nInner];
  return m.ffn(x, m.param(`${p}.c_fc.weight`, [c, f]), m.param(`${p}.c_fc.bias`, [f]), m.param(`${p}.c_proj.weight`, [f, c]), m.param(`${p}.c_proj.bias`, [c]), cfg.activation);
}

export function buildCachedGpt2(cfg: Gpt2Config, options: { seq?: 'seq' | 1 } = {}): Graph {
  const m = new ModelBuilder();
  const seq = options.seq ?? 'seq';
  const { ids, position, lastIndex, positions, mask } = decodeStepInputs(m, seq, cfg.nPositions); // positions (B, T), mask (B, 1, T, P)
  const wte = m.param('wte.weight', [cfg.vocabSize, cfg.nEmbd]);
  const wpe = m.param('wpe.weight', [cfg.nPositions, cfg.nEmbd]);
  let x: Hidden = m.learnedPosenc(m.embed(ids, wte), wpe, positions); // (B, T, C)
  for (let i = 0; i < cfg.nLayer; i++) {
    x = m.add(x, cachedAttn(m, cfg, i, layerNorm(m, `h.${i}.ln_1`, x, cfg.nEmbd, cfg.eps), position, mask));
    x = m.add(x, mlp(m, cfg, `h.${i}.mlp`, layerNorm(m, `h.${i}.ln_2`, x, cfg.nEmbd, cfg.eps)));
  }
  const last = pickPosition(m, x, lastIndex); // (B, 1, C)
  return m.build({ logits: tiedHead(m, layerNorm(m, 'ln_f', last, cfg.nEmbd, cfg.eps), wte) }); // (B, 1, V)
}

/**
 * GPT-2 with a key/value cache, for decoding one token at a time at a flat cost per token.
 *
 * Dimension letters: B batch, T new tokens this run ('seq': the prompt at prefill, 1 when decoding),
 * P cache capacity (n_positions), C width, H heads, Dh = C / H, V vocabulary.
 *
 * Inputs:  input_ids [B, T] i32, position [B] i32 (where each row's new tokens start),
 *          last_index [B] i32 (which new token's logits to return), cache.{k,v}.{i} [B, H, P, Dh].
 * Outputs: logits [B, 1, V] and the updated caches under the same names: they are states, kept by
 *          the backend between runs and updated in place (see StateStore).
 * A query at position p sees cache slots 0..p: slots beyond a row's end (padding from a batched
 * prefill, or never written) are masked until that row's later tokens overwrite them.
 */
import { MASKED, ModelBuilder, Tensor, type Dim, type Graph, type Shape } from '@loom/graph';
import { layerNorm, linear, tiedHead, type F32, type I32 } from '../blocks.ts';
import type { Gpt2Config } from './config.ts';

type Hidden = F32<readonly ['batch', 'seq', number]>;
type Heads = F32<readonly ['batch', number, Dim, number]>;
type Cache = F32<readonly ['batch', number, number, number]>;

export const cacheName = (kind: 'k' | 'v', layer: number): string => `cache.${kind}.${layer}`;

function op<S extends Shape>(m: ModelBuilder, name: string, inputs: readonly Tensor[], attrs: Record<string, unknown> = {}): F32<S> {
  return new Tensor(m, m.graph.add(name, inputs.map((t) => t.ref), attrs));
}

/** Causal self-attention over the cache: the new k and v are written at `position`, q attends to slots 0..position+i. */
function cachedAttn(m: ModelBuilder, cfg: Gpt2Config, layer: number, x: Hidden, position: I32<readonly ['batch']>, mask: F32, states: Record<string, Tensor>): Hidden {
  const p = `h.${layer}.attn`;
  const [c, h] = [cfg.nEmbd, cfg.nHead];
  const dh = c / h;
  const qkv = linear(m, `${p}.c_attn`, x, c, 3 * c); // (B, T, 3C)
  const heads = (from: number): Heads =>
    m.transpose(m.reshape(m.slice(qkv, -1, from, from + c), ['batch', -1, h, dh] as const), [0, 2, 1, 3] as const); // (B, H, T, Dh)
  const update = (kind: 'k' | 'v', fresh: Heads): Cache => {
    const cache: Cache = m.input(cacheName(kind, layer), 'f32', ['batch', h, cfg.nPositions, dh] as const); // (B, H, P, Dh)
    const updated = op<readonly ['batch', number, number, number]>(m, 'cache_update', [cache, fresh, position], { axis: 2 });
    states[cacheName(kind, layer)] = updated;
    return updated;
  };
  const q = heads(0);
  const k = update('k', heads(c));
  const v = update('v', heads(2 * c));
  const scores = m.add(m.mul(op<Shape>(m, 'matmul', [q, k], { transposeB: true }), 1 / Math.sqrt(dh)), mask); // (B, H, T, P)
  const y = op<Shape>(m, 'matmul', [m.softmax(scores), v]); // (B, H, T, Dh)
  const merged = m.reshape(m.transpose(y as F32<readonly [string, number, string, number]>, [0, 2, 1, 3] as const), ['batch', -1, c] as const); // (B, T, C)
  return linear(m, `${p}.c_proj`, merged as Hidden, c, c);
}

function mlp(m: ModelBuilder, cfg: Gpt2Config, p: string, x: Hidden): Hidden {
  const [c, f] = [cfg.nEmbd, cfg.nInner];
  return m.ffn(x, m.param(`${p}.c_fc.weight`, [c, f]), m.param(`${p}.c_fc.bias`, [f]), m.param(`${p}.c_proj.weight`, [f, c]), m.param(`${p}.c_proj.bias`, [c]), cfg.activation);
}

export function buildCachedGpt2(cfg: Gpt2Config, options: { seq?: 'seq' | 1 } = {}): Graph {
  const m = new ModelBuilder();
  const seq = options.seq ?? 'seq';
  const ids = m.input('input_ids', 'i32', ['batch', seq] as const) as I32<readonly ['batch', 'seq']>;
  const position = m.input('position', 'i32', ['batch'] as const);
  const lastIndex = m.input('last_index', 'i32', ['batch'] as const);
  const wte = m.param('wte.weight', [cfg.vocabSize, cfg.nEmbd]);
  const wpe = m.param('wpe.weight', [cfg.nPositions, cfg.nEmbd]);

  const offsets = m.reshape(m.range(seq), [1, seq] as const); // (1, T)
  // (B, 1) + (1, T) broadcasts both ways, which the typed `add` does not express: use the graph op
  const positions = new Tensor<'i32', readonly ['batch', 'seq']>(m, m.graph.add('add', [m.reshape(position, ['batch', 1] as const).ref, offsets.ref])); // (B, T): absolute positions
  const slots = m.reshape(m.range(cfg.nPositions), [1, 1, 1, cfg.nPositions] as const); // (1, 1, 1, P)
  const future = m.compare('greater', slots, m.reshape(positions, ['batch', 1, seq, 1] as const) as never); // (B, 1, T, P)
  const mask = m.where(future as never, m.constant(MASKED), m.constant(0)) as F32; // (B, 1, T, P)

  const states: Record<string, Tensor> = {};
  let x: Hidden = m.learnedPosenc(m.embed(ids, wte), wpe, positions); // (B, T, C)
  for (let i = 0; i < cfg.nLayer; i++) {
    x = m.add(x, cachedAttn(m, cfg, i, layerNorm(m, `h.${i}.ln_1`, x, cfg.nEmbd, cfg.eps), position, mask, states));
    x = m.add(x, mlp(m, cfg, `h.${i}.mlp`, layerNorm(m, `h.${i}.ln_2`, x, cfg.nEmbd, cfg.eps)));
  }

  // the hidden state of each row's `last_index` token, by a one-hot sum (T is symbolic)
  const pick = m.cast(m.compare('equal', m.reshape(m.range(seq), [1, seq] as const), m.reshape(lastIndex, ['batch', 1] as const) as never), 'f32'); // (B, T)
  const last = op<readonly ['batch', 1, number]>(m, 'reduce_sum', [m.mul(x, m.reshape(pick, ['batch', seq, 1] as const) as never)], { axes: [1], keepDims: true }); // (B, 1, C)
  const logits = tiedHead(m, layerNorm(m, 'ln_f', last, cfg.nEmbd, cfg.eps), wte); // (B, 1, V)
  return m.build({ logits, ...states });
}

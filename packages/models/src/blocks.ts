/**
 * Small building blocks shared by the models: layers that own named weights, the tied output head,
 * the "last position" selection used by generation graphs, and the KV cache, which every model's
 * cached graph writes the one way `decodeStepInputs` gives.
 *
 * Dimension letters: B batch, T sequence length, D model width, V vocabulary, P cache capacity,
 * W a cache's width.
 */
import { ConfigError } from './errors.ts';
import { MASKED, type Dim, type Graph, type ModelBuilder, type Shape, type Tensor } from '@loom/graph';

export type F32<S extends Shape = Shape> = Tensor<'f32', S>;
export type I32<S extends Shape = Shape> = Tensor<'i32', S>;

/** x @ W + b with weights `${name}.weight` [in, out] (stored input-major) and `${name}.bias` [out]. */
export function linear<const H extends readonly Dim[]>(m: ModelBuilder, name: string, x: F32<readonly [...H, Dim]>, inDim: number, outDim: number): F32<readonly [...H, number]> {
  return m.linear(x, m.param(`${name}.weight`, [inDim, outDim]), m.param(`${name}.bias`, [outDim]));
}

/** LayerNorm over the last axis with `${name}.weight` (gamma) and `${name}.bias` (beta), both [D]. */
export function layerNorm<S extends Shape>(m: ModelBuilder, name: string, x: F32<S>, d: number, eps: number): F32<S> {
  return m.layerNorm(x, ...normParams(m, name, d), eps);
}

/** The gamma and beta of a LayerNorm, for `add_norm`. */
export function normParams(m: ModelBuilder, name: string, d: number): [F32<readonly [number]>, F32<readonly [number]>] {
  return [m.param(`${name}.weight`, [d]), m.param(`${name}.bias`, [d])];
}

/**
 * The tied output head: logits = x @ table^T, reusing the embedding table [V, D] (no copy, no
 * transpose node: matmul reads the table transposed).
 */
export function tiedHead<T extends Dim>(m: ModelBuilder, x: F32<readonly ['batch', T, number]>, table: F32<readonly [number, number]>): F32<readonly ['batch', T, number]> {
  return m.matmul(x, table, { transposeB: true }); // (B, T, V)
}

/**
 * x[:, last, :] as (B, 1, D), where `last` is each row's last kept position (the largest index where
 * `keep` is 1) or T - 1 for every row without `keep`. Built from a one-hot selection over T because
 * the sequence axis is symbolic; the sum adds exact zeros, so the selected row is copied exactly.
 */
export function lastPosition(m: ModelBuilder, x: F32<readonly ['batch', Dim, number]>, keep?: I32<readonly ['batch', Dim]>): F32<readonly ['batch', 1, number]> {
  const [batch, seq] = x.shape;
  const pos = m.cast(m.range(seq), 'f32'); // (T)
  let select: F32<readonly [Dim, Dim, 1]>;
  if (keep) {
    const keptPos = m.where(keep, pos, -1); // (B, T): -1 at padding
    const onehot = m.compare('equal', keptPos, m.reduce('max', keptPos, [1], true)); // (B, T)
    select = m.reshape(m.cast(onehot, 'f32'), [batch, seq, 1]);
  } else {
    const onehot = m.compare('equal', pos, m.reduce('max', pos, [0], true)); // (T)
    select = m.reshape(m.cast(onehot, 'f32'), [1, seq, 1]);
  }
  return m.reduce('sum', m.mul(x, select), [1], true); // (B, 1, D)
}

/** The sum of two additive masks whose shapes broadcast against each other, e.g. (T, T) + (B, 1, 1, T) -> (B, 1, T, T). */
export function combineMasks(m: ModelBuilder, a: F32, b: F32): F32 {
  return m.add(a, b);
}

/**
 * Each row's absolute positions `position[b] + 0..T-1` (B, T), for a graph that feeds T new tokens
 * per row after `position[b]` cached ones.
 */
export function rowPositions(m: ModelBuilder, position: I32<readonly ['batch']>, seq: Dim): I32<readonly ['batch', Dim]> {
  return m.add(m.reshape(position, ['batch', 1]), m.reshape(m.range(seq), [1, seq]));
}

/**
 * The additive mask of attention over a KV cache of `capacity` slots (B, 1, T, P): a query at
 * absolute position p sees slots 0..p. Slots past a row's end (never written, or padding from a
 * batched prefill that the row's later tokens overwrite) are masked.
 */
export function cacheMask(m: ModelBuilder, positions: I32<readonly ['batch', Dim]>, capacity: number): F32<readonly ['batch', 1, Dim, number]> {
  const slots = m.reshape(m.range(capacity), [1, 1, 1, capacity]); // (1, 1, 1, P)
  const future = m.compare('greater', slots, m.reshape(positions, ['batch', 1, -1, 1])); // (B, 1, T, P)
  return m.where(future, MASKED, 0);
}

/** The keys and values one attention reads, (B, S, W) each. */
export interface KeysValues {
  readonly k: F32<readonly ['batch', Dim, Dim]>;
  readonly v: F32<readonly ['batch', Dim, Dim]>;
}

/**
 * Where layer `layer`'s self-attention reads its keys and values, given the ones this run's tokens
 * project to: those alone (`ownKeysValues`, a full-sequence graph) or the whole KV cache they are
 * written into (`decodeStepInputs(...).cache`). Every model's layers take one, so a model writes its
 * full-sequence and its cached graphs with the same block code.
 */
export type SelfKeysValues = (layer: number, fresh: KeysValues) => KeysValues;

/** Attention over this run's tokens only: the keys and values as they are. */
export const ownKeysValues: SelfKeysValues = (_, fresh) => fresh;

/** The state holding layer `layer`'s cached keys or values: `cache.k.3`, `cache.v.3`. */
export const kvCacheName = (kind: 'k' | 'v', layer: number): string => `cache.${kind}.${layer}`;

/**
 * The inputs every KV-cache graph takes (KvCacheDecoder feeds them): input_ids [B, T] (T = 'seq' at
 * prefill, 1 per step), position [B] (where each row's new tokens start), last_index [B] (whose
 * logits to return); and what follows from them: the absolute positions (B, T), the mask of
 * attention over a cache of `capacity` slots (B, 1, T, P), and `cache`, the one way a model writes
 * its KV cache: layer i's new keys and values (B, T, W) go into the states cache.{k,v}.{i}
 * (B, P, W) at each row's position, and attention reads all P slots under the mask.
 */
export function decodeStepInputs(m: ModelBuilder, seq: 'seq' | 1, capacity: number) {
  const ids = m.input('input_ids', 'i32', ['batch', seq]);
  const position = m.input('position', 'i32', ['batch']);
  const lastIndex = m.input('last_index', 'i32', ['batch']);
  const positions = rowPositions(m, position, seq);
  const cache: SelfKeysValues = (layer, fresh) => ({
    k: appendToCache(m, kvCacheName('k', layer), fresh.k, position, capacity),
    v: appendToCache(m, kvCacheName('v', layer), fresh.v, position, capacity),
  });
  return { seq, ids, position, lastIndex, positions, mask: cacheMask(m, positions, capacity), cache };
}

/** What decodeStepInputs gives: the step's inputs, its positions and mask, and the KV cache. */
export type DecodeStep = ReturnType<typeof decodeStepInputs>;

/**
 * A sliding-window layer's keys and values over a KV cache whose memory the window bounds: the
 * states cache.{k,v}.{layer} are rings of `window` slots (B, W, width), position p in slot p mod W,
 * written with each row's `last_index` + 1 real tokens (a right-padded prefill writes no padding).
 * - One token per row (a decode step): it is written first; the ring then holds exactly the keys its
 *   window sees, at positions L - ((L - s) mod W) for slot s, L the token's position (negative for
 *   slots never written, which attention hides).
 * - A prefill (`seq` tokens, every row from position 0, as KvCacheDecoder runs it): the ring is
 *   empty, so the tokens attend to each other only; the last W of each row are then written.
 * Returns the keys and values attention reads and their positions.
 */
export function windowKeysValues(m: ModelBuilder, layer: number, fresh: KeysValues, step: DecodeStep, window: number): KeysValues & { positions: I32<readonly ['batch', Dim]> } {
  const count = m.add(step.lastIndex, 1);
  const written = (kind: 'k' | 'v') => {
    const name = kvCacheName(kind, layer);
    const width = fresh[kind].shape[2];
    if (typeof width !== 'number') throw new ConfigError(`${name}: a cache needs a static width, got ${width}`);
    const state = m.state(name, 'f32', ['batch', window, width]);
    return state.write(m.cacheUpdate(state.value, fresh[kind], step.position, 1, { rolling: true, count }));
  };
  const [k, v] = [written('k'), written('v')];
  if (step.seq !== 1) return { ...fresh, positions: step.positions };
  // slot s holds the last position L - ((L - s) mod W) up to the token's L
  const last = m.reshape(step.position, ['batch', 1]); // (B, 1)
  const offset = m.add(m.sub(last, m.reshape(m.range(window), [1, window])), window); // L - s + W > 0: (B, W)
  const slotPositions = m.sub(last, m.sub(offset, m.mul(m.div(offset, window), window)));
  return { k, v, positions: slotPositions };
}

/** Appends `fresh` (B, T, W) to the KV-cache state `name` (B, P, W) at each row's `position`, and returns the whole cache. */
export function appendToCache(m: ModelBuilder, name: string, fresh: F32<readonly ['batch', Dim, Dim]>, position: I32<readonly ['batch']>, capacity: number): F32<readonly ['batch', number, number]> {
  const width = fresh.shape[2];
  if (typeof width !== 'number') throw new ConfigError(`${name}: a cache needs a static width, got ${width}`);
  const cache = m.state(name, 'f32', ['batch', capacity, width]);
  return cache.write(m.cacheUpdate(cache.value, fresh, position, 1));
}

/** The hidden state of each row's `last_index` token (B, 1, D), by a one-hot sum over T (T is symbolic). */
export function pickPosition(m: ModelBuilder, x: F32<readonly ['batch', Dim, number]>, index: I32<readonly ['batch']>): F32<readonly ['batch', 1, number]> {
  const seq = x.shape[1];
  const pick = m.cast(m.compare('equal', m.reshape(m.range(seq), [1, seq]), m.reshape(index, ['batch', 1])), 'f32'); // (B, T)
  return m.reduce('sum', m.mul(x, m.reshape(pick, ['batch', seq, 1])), [1], true);
}

/** Number of weights of a graph: the sum over its params of the product of their (static) shapes. Tied weights are one param. */
export function countParams(...graphs: Graph[]): number {
  const sizes = new Map<string, number>();
  for (const graph of graphs) {
    for (const node of graph.nodes) {
      if (node.op !== 'param') continue;
      const size = node.type.shape.reduce<number>((n, d) => n * (typeof d === 'number' ? d : NaN), 1);
      sizes.set(String(node.attrs['name']), size);
    }
  }
  let total = 0;
  for (const size of sizes.values()) total += size;
  return total;
}

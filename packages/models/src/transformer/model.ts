/**
 * The encoder-decoder Transformer of "Attention Is All You Need" (Vaswani et al., 2017), as graphs.
 *
 * Dimension letters:
 *   B  batch                        S  source length ('src_seq')
 *   T  target length ('tgt_seq')    D  d_model
 *   H  heads                        F  d_ff (feed-forward width)
 *   V  vocabulary
 *
 * Weight names (Loom-native, every matrix stored [in, out]):
 *   src_embed, tgt_embed [V, D] or shared_embed [V, D]; src_pos, tgt_pos [maxLen, D] when learned
 *   encoder.layers.{i}.self_attn.{q,k,v,out}.{weight,bias}, .ffn.{fc1,fc2}.{weight,bias}, .norm{1,2}.{weight,bias}
 *   decoder.layers.{i}.{self_attn,cross_attn}.{q,k,v,out}.*, .ffn.*, .norm{1,2,3}.*
 *   encoder.norm, decoder.norm (pre-norm only); generator.weight [D, V] (unless shared or tied), generator.bias [V]
 *
 * Decoding with a cache uses two more graphs: `buildTransformerCrossKv` computes each decoder layer's
 * cross-attention keys and values from the source once, and `buildCachedTransformerDecoder` feeds
 * T new target tokens per row, appending their self-attention keys and values to per-layer caches.
 */
import { ModelBuilder, type Dim, type Graph } from '@loom/graph';
import { decodeStepInputs, lastPosition, layerNorm, linear, normParams, ownKeysValues, pickPosition, tiedHead, type F32, type I32, type KeysValues, type SelfKeysValues } from '../blocks.ts';
import { validateTransformerConfig, type TransformerConfig } from './config.ts';

type Ids<T extends Dim> = I32<readonly ['batch', T]>;
type Hidden<T extends Dim> = F32<readonly ['batch', T, number]>;
type Mask = F32;

/** Token embedding (times sqrt(D)) plus positions (default 0..T-1, or (B, T) absolute ones): (B, T) -> (B, T, D). */
function embed<T extends Dim>(m: ModelBuilder, cfg: TransformerConfig, side: 'src' | 'tgt', ids: Ids<T>, positions?: I32<readonly ['batch', Dim]>): Hidden<T> {
  const vocab = side === 'src' ? cfg.srcVocab : cfg.tgtVocab;
  const x = m.embed(ids, embedTable(m, cfg, side, vocab), cfg.embedScale ? Math.sqrt(cfg.dModel) : 1); // (B, T, D)
  if (cfg.positional === 'learned') return m.learnedPosenc(x, m.param(`${side}_pos`, [cfg.maxLen, cfg.dModel]), positions);
  return m.sinusoidalPosenc(x, positions, cfg.positional === 'sinusoidal-halves' ? 'halves' : 'interleaved');
}

function embedTable(m: ModelBuilder, cfg: TransformerConfig, side: 'src' | 'tgt', vocab: number): F32<readonly [number, number]> {
  return m.param(cfg.sharedEmbeddings ? 'shared_embed' : `${side}_embed`, [vocab, cfg.dModel]);
}

/** K = source W_K + b_K and V = source W_V + b_V of attention `p`. */
function project(m: ModelBuilder, cfg: TransformerConfig, p: string, source: Hidden<Dim>): KeysValues {
  const d = cfg.dModel;
  return { k: linear(m, `${p}.k`, source, d, d), v: linear(m, `${p}.v`, source, d, d) };
}

/** MultiHead(Q, K, V) = Concat(head_1..head_H) W_O, queries from x. */
function multiHeadAttention<T extends Dim>(m: ModelBuilder, cfg: TransformerConfig, p: string, x: Hidden<T>, kv: KeysValues, mask: Mask): Hidden<T> {
  const d = cfg.dModel;
  const q = linear(m, `${p}.q`, x, d, d); // (B, T, D)
  const heads = m.attention(q, kv.k, kv.v, cfg.heads, mask); // (B, T, D), heads split and merged inside
  return linear(m, `${p}.out`, heads, d, d);
}

/** FFN(x) = act(x W1 + b1) W2 + b2, applied at every position. */
function feedForward<T extends Dim>(m: ModelBuilder, cfg: TransformerConfig, p: string, x: Hidden<T>): Hidden<T> {
  const { dModel: d, dFF: f } = cfg;
  const w1 = m.param(`${p}.fc1.weight`, [d, f]);
  const b1 = m.param(`${p}.fc1.bias`, [f]);
  const w2 = m.param(`${p}.fc2.weight`, [f, d]);
  const b2 = m.param(`${p}.fc2.bias`, [d]);
  return m.ffn(x, w1, b1, w2, b2, cfg.activation);
}

/** One sublayer with its residual and LayerNorm: post-norm LayerNorm(x + f(x)) (the paper), or pre-norm x + f(LayerNorm(x)). */
function residual<T extends Dim>(m: ModelBuilder, cfg: TransformerConfig, norm: string, x: Hidden<T>, sublayer: (h: Hidden<T>) => Hidden<T>): Hidden<T> {
  if (cfg.norm === 'post') return m.addNorm(x, sublayer(x), ...normParams(m, norm, cfg.dModel), cfg.eps);
  return m.add(x, sublayer(layerNorm(m, norm, x, cfg.dModel, cfg.eps)));
}

/** Encoder layer: self-attention, then the feed-forward network. */
function encoderLayer(m: ModelBuilder, cfg: TransformerConfig, p: string, x: Hidden<'src_seq'>, srcMask: Mask): Hidden<'src_seq'> {
  x = residual(m, cfg, `${p}.norm1`, x, (h) => multiHeadAttention(m, cfg, `${p}.self_attn`, h, project(m, cfg, `${p}.self_attn`, h), srcMask));
  return residual(m, cfg, `${p}.norm2`, x, (h) => feedForward(m, cfg, `${p}.ffn`, h));
}

/**
 * Where decoder layer i's attentions read keys and values: its self-attention's from this run's
 * tokens (teacher forcing) or appended to a cache; its cross-attention's projected from the memory
 * or given as inputs computed once per source.
 */
interface DecoderKv {
  readonly self: SelfKeysValues;
  cross(layer: number): KeysValues;
}

/** Decoder layer: masked self-attention, attention over the encoder memory, then the feed-forward network. */
function decoderLayer<T extends Dim>(m: ModelBuilder, cfg: TransformerConfig, i: number, x: Hidden<T>, kv: DecoderKv, selfMask: Mask, srcMask: Mask): Hidden<T> {
  const p = `decoder.layers.${i}`;
  x = residual(m, cfg, `${p}.norm1`, x, (h) => multiHeadAttention(m, cfg, `${p}.self_attn`, h, kv.self(i, project(m, cfg, `${p}.self_attn`, h)), selfMask));
  x = residual(m, cfg, `${p}.norm2`, x, (h) => multiHeadAttention(m, cfg, `${p}.cross_attn`, h, kv.cross(i), srcMask));
  return residual(m, cfg, `${p}.norm3`, x, (h) => feedForward(m, cfg, `${p}.ffn`, h));
}

/**
 * Each source token's distance from its row's last token (B, S): n - 1 - j for the n non-PAD tokens
 * of a row, 0 on PAD. With these positions, output i of a reversal reads the source token at
 * position i, the same position as its own.
 */
function positionsFromEnd(m: ModelBuilder, cfg: TransformerConfig, srcIds: Ids<'src_seq'>): I32<readonly ['batch', Dim]> {
  const real = m.compare('not_equal', srcIds, cfg.padId); // (B, S): 1 on tokens
  const lengths = m.cast(m.reduce('sum', m.cast(real, 'f32'), [1], true), 'i32'); // (B, 1)
  const index = m.reshape(m.range('src_seq'), [1, 'src_seq']); // (1, S)
  return m.where(real, m.sub(m.sub(lengths, 1), index), 0);
}

/** The encoder stack: source ids (B, S) -> memory (B, S, D). */
function encode(m: ModelBuilder, cfg: TransformerConfig, srcIds: Ids<'src_seq'>): Hidden<'src_seq'> {
  const srcMask = m.paddingMask(srcIds, cfg.padId); // (B, 1, 1, S): PAD keys are never attended to
  let x = embed(m, cfg, 'src', srcIds, cfg.sourcePositions === 'from-end' ? positionsFromEnd(m, cfg, srcIds) : undefined);
  for (let i = 0; i < cfg.encoderLayers; i++) x = encoderLayer(m, cfg, `encoder.layers.${i}`, x, srcMask);
  if (cfg.norm === 'pre') x = layerNorm(m, 'encoder.norm', x, cfg.dModel, cfg.eps);
  return x;
}

/** The decoder stack up to its last hidden state: (B, T, D) embedded targets -> (B, T, D). */
function decodeStack<T extends Dim>(m: ModelBuilder, cfg: TransformerConfig, x: Hidden<T>, kv: DecoderKv, selfMask: Mask, srcIds: Ids<'src_seq'>): Hidden<T> {
  const srcMask = m.paddingMask(srcIds, cfg.padId); // (B, 1, 1, S)
  for (let i = 0; i < cfg.decoderLayers; i++) x = decoderLayer(m, cfg, i, x, kv, selfMask, srcMask);
  if (cfg.norm === 'pre') x = layerNorm(m, 'decoder.norm', x, cfg.dModel, cfg.eps);
  return x;
}

/** Teacher forcing: every target position at once, causal self-attention, cross-attention K/V from the memory. */
function decode(m: ModelBuilder, cfg: TransformerConfig, memory: Hidden<'src_seq'>, srcIds: Ids<'src_seq'>, tgtIds: Ids<'tgt_seq'>): Hidden<'tgt_seq'> {
  const kv: DecoderKv = { self: ownKeysValues, cross: (i) => project(m, cfg, `decoder.layers.${i}.cross_attn`, memory) };
  return decodeStack(m, cfg, embed(m, cfg, 'tgt', tgtIds), kv, m.causalMask(tgtIds), srcIds); // causal: position i sees targets 0..i
}

/** The output projection to target-vocabulary logits: (B, T, D) -> (B, T, V). */
function generator<T extends Dim>(m: ModelBuilder, cfg: TransformerConfig, x: F32<readonly ['batch', T, number]>): F32<readonly ['batch', T, number]> {
  const v = cfg.tgtVocab;
  const tied = cfg.sharedEmbeddings || cfg.tieOutputToTarget;
  const logits = tied ? tiedHead(m, x, embedTable(m, cfg, 'tgt', v)) : m.linear(x, m.param('generator.weight', [cfg.dModel, v]));
  return cfg.generatorBias ? m.add(logits, m.param('generator.bias', [v])) : logits;
}

function srcInput(m: ModelBuilder): Ids<'src_seq'> {
  return m.input('src_ids', 'i32', ['batch', 'src_seq']);
}
function tgtInput(m: ModelBuilder): Ids<'tgt_seq'> {
  return m.input('tgt_ids', 'i32', ['batch', 'tgt_seq']);
}

/** Encoder graph: `src_ids` i32 [batch, src_seq] -> `memory` f32 [batch, src_seq, D]. */
export function buildTransformerEncoder(cfg: TransformerConfig): Graph {
  validateTransformerConfig(cfg);
  const m = new ModelBuilder();
  return m.build({ memory: encode(m, cfg, srcInput(m)) });
}

export interface DecoderGraphOptions {
  /** Output only the logits of the last target position, `logits` [batch, 1, V] (for decoding). */
  readonly lastOnly?: boolean;
}

/**
 * Decoder graph: `memory` f32 [batch, src_seq, D], `src_ids` (for the source padding mask) and
 * `tgt_ids` i32 [batch, tgt_seq] -> `logits` f32 [batch, tgt_seq, V] (or [batch, 1, V] with lastOnly).
 */
export function buildTransformerDecoder(cfg: TransformerConfig, options: DecoderGraphOptions = {}): Graph {
  validateTransformerConfig(cfg);
  const m = new ModelBuilder();
  const memory = m.input('memory', 'f32', ['batch', 'src_seq', cfg.dModel]);
  const srcIds = srcInput(m);
  const x = decode(m, cfg, memory, srcIds, tgtInput(m)); // (B, T, D)
  return m.build({ logits: options.lastOnly ? generator(m, cfg, lastPosition(m, x)) : generator(m, cfg, x) });
}

/** Teacher forcing in one graph: `src_ids`, `tgt_ids` -> `memory` and `logits` [batch, tgt_seq, V]. */
export function buildTransformer(cfg: TransformerConfig): Graph {
  validateTransformerConfig(cfg);
  const m = new ModelBuilder();
  const srcIds = srcInput(m);
  const memory = encode(m, cfg, srcIds);
  const logits = generator(m, cfg, decode(m, cfg, memory, srcIds, tgtInput(m)));
  return m.build({ memory, logits });
}

/** The name of decoder layer i's cross-attention keys or values, an input of the cached decoder (its caches are blocks.ts' kvCacheName). */
export const crossKvName = (kind: 'k' | 'v', layer: number): string => `cross.${kind}.${layer}`;

/**
 * Everything decoding needs from the source, computed once: `src_ids` [batch, src_seq] ->
 * `cross.{k,v}.{i}` [batch, src_seq, D], decoder layer i's cross-attention keys and values.
 */
export function buildTransformerCrossKv(cfg: TransformerConfig): Graph {
  validateTransformerConfig(cfg);
  const m = new ModelBuilder();
  const memory = encode(m, cfg, srcInput(m));
  const outputs: Record<string, F32> = {};
  for (let i = 0; i < cfg.decoderLayers; i++) {
    const { k, v } = project(m, cfg, `decoder.layers.${i}.cross_attn`, memory);
    outputs[crossKvName('k', i)] = k;
    outputs[crossKvName('v', i)] = v;
  }
  return m.build(outputs);
}

/**
 * The decoder with a self-attention KV cache: inputs input_ids [B, T] (T new target tokens per
 * row: 'seq' at the start, 1 per step), position [B] (where they start), last_index [B] (whose
 * logits to return), src_ids [B, S] (the source padding mask), cross.{k,v}.{i} [B, S, D]; states
 * cache.{k,v}.{i} [B, maxLen, D]. Output: logits [B, 1, V] and the updated caches.
 */
export function buildCachedTransformerDecoder(cfg: TransformerConfig, options: { seq?: 'seq' | 1 } = {}): Graph {
  validateTransformerConfig(cfg);
  const m = new ModelBuilder();
  const d = cfg.dModel;
  const { ids, lastIndex, positions, mask, cache } = decodeStepInputs(m, options.seq ?? 'seq', cfg.maxLen); // positions (B, T), mask (B, 1, T, P)
  const srcIds = srcInput(m);
  const kv: DecoderKv = {
    self: cache,
    cross: (i) => ({ k: m.input(crossKvName('k', i), 'f32', ['batch', 'src_seq', d]), v: m.input(crossKvName('v', i), 'f32', ['batch', 'src_seq', d]) }),
  };
  const x = decodeStack(m, cfg, embed(m, cfg, 'tgt', ids, positions), kv, mask, srcIds);
  return m.build({ logits: generator(m, cfg, pickPosition(m, x, lastIndex)) });
}

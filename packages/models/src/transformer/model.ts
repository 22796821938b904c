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
 *   encoder.norm, decoder.norm (pre-norm only); generator.weight [D, V] (unless shared), generator.bias [V]
 */
import { ModelBuilder, type Dim, type Graph } from '@loom/graph';
import { layerNorm, lastPosition, linear, normParams, tiedHead, type F32, type I32 } from '../blocks.ts';
import { validateTransformerConfig, type TransformerConfig } from './config.ts';

type Ids<T extends Dim> = I32<readonly ['batch', T]>;
type Hidden<T extends Dim> = F32<readonly ['batch', T, number]>;
type Mask = F32;

/** Token embedding (times sqrt(D)) plus positions: (B, T) -> (B, T, D). */
function embed<T extends Dim>(m: ModelBuilder, cfg: TransformerConfig, side: 'src' | 'tgt', ids: Ids<T>): Hidden<T> {
  const vocab = side === 'src' ? cfg.srcVocab : cfg.tgtVocab;
  const table = m.param(cfg.sharedEmbeddings ? 'shared_embed' : `${side}_embed`, [vocab, cfg.dModel]);
  const x = m.embed(ids, table, cfg.embedScale ? Math.sqrt(cfg.dModel) : 1); // (B, T, D)
  if (cfg.positional === 'sinusoidal') return m.sinusoidalPosenc(x);
  return m.learnedPosenc(x, m.param(`${side}_pos`, [cfg.maxLen, cfg.dModel]));
}

/** MultiHead(Q, K, V) = Concat(head_1..head_H) W_O, queries from x, keys and values from `memory`. */
function multiHeadAttention<T extends Dim>(m: ModelBuilder, cfg: TransformerConfig, p: string, x: Hidden<T>, memory: Hidden<Dim>, mask: Mask): Hidden<T> {
  const d = cfg.dModel;
  const q = linear(m, `${p}.q`, x, d, d); // (B, T, D)
  const k = linear(m, `${p}.k`, memory, d, d); // (B, S, D)
  const v = linear(m, `${p}.v`, memory, d, d); // (B, S, D)
  const heads = m.attention(q, k, v, cfg.heads, mask); // (B, T, D), heads split and merged inside
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

/** Encoder layer: self-attention, then the feed-forward network, each with a residual and a LayerNorm. */
function encoderLayer(m: ModelBuilder, cfg: TransformerConfig, p: string, x: Hidden<'src_seq'>, srcMask: Mask): Hidden<'src_seq'> {
  const selfAttn = (h: Hidden<'src_seq'>) => multiHeadAttention(m, cfg, `${p}.self_attn`, h, h, srcMask);
  const ffn = (h: Hidden<'src_seq'>) => feedForward(m, cfg, `${p}.ffn`, h);
  const [d, eps] = [cfg.dModel, cfg.eps];
  if (cfg.norm === 'post') {
    x = m.addNorm(x, selfAttn(x), ...normParams(m, `${p}.norm1`, d), eps); // LayerNorm(x + SelfAttn(x))
    x = m.addNorm(x, ffn(x), ...normParams(m, `${p}.norm2`, d), eps); // LayerNorm(x + FFN(x))
  } else {
    x = m.add(x, selfAttn(layerNorm(m, `${p}.norm1`, x, d, eps))); // x + SelfAttn(LayerNorm(x))
    x = m.add(x, ffn(layerNorm(m, `${p}.norm2`, x, d, eps))); // x + FFN(LayerNorm(x))
  }
  return x;
}

/** Decoder layer: masked self-attention, attention over the encoder memory, then the feed-forward network. */
function decoderLayer(m: ModelBuilder, cfg: TransformerConfig, p: string, x: Hidden<'tgt_seq'>, memory: Hidden<'src_seq'>, causal: Mask, srcMask: Mask): Hidden<'tgt_seq'> {
  const selfAttn = (h: Hidden<'tgt_seq'>) => multiHeadAttention(m, cfg, `${p}.self_attn`, h, h, causal);
  const crossAttn = (h: Hidden<'tgt_seq'>) => multiHeadAttention(m, cfg, `${p}.cross_attn`, h, memory, srcMask);
  const ffn = (h: Hidden<'tgt_seq'>) => feedForward(m, cfg, `${p}.ffn`, h);
  const [d, eps] = [cfg.dModel, cfg.eps];
  if (cfg.norm === 'post') {
    x = m.addNorm(x, selfAttn(x), ...normParams(m, `${p}.norm1`, d), eps);
    x = m.addNorm(x, crossAttn(x), ...normParams(m, `${p}.norm2`, d), eps);
    x = m.addNorm(x, ffn(x), ...normParams(m, `${p}.norm3`, d), eps);
  } else {
    x = m.add(x, selfAttn(layerNorm(m, `${p}.norm1`, x, d, eps)));
    x = m.add(x, crossAttn(layerNorm(m, `${p}.norm2`, x, d, eps)));
    x = m.add(x, ffn(layerNorm(m, `${p}.norm3`, x, d, eps)));
  }
  return x;
}

/** The encoder stack: source ids (B, S) -> memory (B, S, D). */
function encode(m: ModelBuilder, cfg: TransformerConfig, srcIds: Ids<'src_seq'>): Hidden<'src_seq'> {
  const srcMask = m.paddingMask(srcIds, cfg.padId); // (B, 1, 1, S): PAD keys are never attended to
  let x = embed(m, cfg, 'src', srcIds);
  for (let i = 0; i < cfg.encoderLayers; i++) x = encoderLayer(m, cfg, `encoder.layers.${i}`, x, srcMask);
  if (cfg.norm === 'pre') x = layerNorm(m, 'encoder.norm', x, cfg.dModel, cfg.eps);
  return x;
}

/** The decoder stack up to its last hidden state: (B, T) target ids and the memory -> (B, T, D). */
function decode(m: ModelBuilder, cfg: TransformerConfig, memory: Hidden<'src_seq'>, srcIds: Ids<'src_seq'>, tgtIds: Ids<'tgt_seq'>): Hidden<'tgt_seq'> {
  const causal = m.causalMask(tgtIds); // (T, T): position i sees targets 0..i
  const srcMask = m.paddingMask(srcIds, cfg.padId); // (B, 1, 1, S)
  let x = embed(m, cfg, 'tgt', tgtIds);
  for (let i = 0; i < cfg.decoderLayers; i++) x = decoderLayer(m, cfg, `decoder.layers.${i}`, x, memory, causal, srcMask);
  if (cfg.norm === 'pre') x = layerNorm(m, 'decoder.norm', x, cfg.dModel, cfg.eps);
  return x;
}

/** The output projection to target-vocabulary logits: (B, T, D) -> (B, T, V). */
function generator(m: ModelBuilder, cfg: TransformerConfig, x: F32<readonly ['batch', Dim, number]>): F32<readonly ['batch', Dim, number]> {
  const v = cfg.tgtVocab;
  const logits = cfg.sharedEmbeddings ? tiedHead(m, x, m.param('shared_embed', [v, cfg.dModel])) : m.linear(x, m.param('generator.weight', [cfg.dModel, v]));
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
  const tgtIds = tgtInput(m);
  const x = decode(m, cfg, memory, srcIds, tgtIds); // (B, T, D)
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

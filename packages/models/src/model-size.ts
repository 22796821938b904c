/**
 * What a config would build, counted from its sizes without building it: the parameters of the
 * graph (tied tables once, as countParams counts a built graph) and its layers. The memory checks
 * (io/model-budget.ts) read these before any graph exists, so a config.json asking for a million
 * layers is refused in microseconds instead of after gigabytes of nodes.
 */
import type { Gpt2Config } from './gpt2/config.ts';
import type { LlamaConfig } from './llama/config.ts';
import type { TransformerConfig } from './transformer/config.ts';

export interface ModelSize {
  /** Transformer layers, encoder and decoder together. */
  readonly layers: number;
  readonly params: number;
  /** The sizes the count comes from, for messages: "12 layers of width 768 (MLP 3072), vocabulary 50257". */
  readonly description: string;
}

/** LayerNorm: a gain and a bias of width d. */
const layerNorm = (d: number) => 2 * d;
/** A linear layer with a bias, [inDim, outDim] + [outDim]. */
const linear = (inDim: number, outDim: number) => inDim * outDim + outDim;

/** GPT-2 (gpt2/model.ts): wte [V, C] (the head too), wpe [P, C], L blocks, ln_f. */
export function gpt2Size(cfg: Gpt2Config): ModelSize {
  const { nLayer: l, nEmbd: c, nInner: f, vocabSize: v, nPositions: p } = cfg;
  // ln_1, c_attn (q, k, v at once), c_proj, ln_2, the MLP's c_fc and c_proj
  const block = layerNorm(c) + linear(c, 3 * c) + linear(c, c) + layerNorm(c) + linear(c, f) + linear(f, c);
  return { layers: l, params: v * c + p * c + l * block + layerNorm(c), description: `${l} layers of width ${c} (MLP ${f}), vocabulary ${v}, ${p} positions` };
}

/** The Llama family (llama/model.ts): embed_tokens [V, D], L layers, norm, lm_head [V, D] unless tied. */
export function llamaSize(cfg: LlamaConfig): ModelSize {
  const { nLayer: l, hidden: d, intermediate: f, vocabSize: v, nHead: h, nKvHead: kv, headDim: dh } = cfg;
  const projections = d * h * dh + 2 * d * kv * dh + h * dh * d; // q, k and v (kv heads), o
  const biases = (cfg.qkvBias ? h * dh + 2 * kv * dh : 0) + (cfg.oBias ? d : 0);
  const layer = 2 * d + projections + biases + 3 * d * f; // two RMSNorms, attention, SwiGLU (gate, up, down)
  const tables = (cfg.tieEmbeddings ? 1 : 2) * v * d;
  return { layers: l, params: tables + l * layer + d, description: `${l} layers of width ${d} (MLP ${f}), vocabulary ${v}` };
}

/** The encoder-decoder Transformer (transformer/model.ts), Marian and the reverse model included. */
export function transformerSize(cfg: TransformerConfig): ModelSize {
  const { encoderLayers: e, decoderLayers: dl, dModel: d, dFF: f } = cfg;
  const attention = 4 * linear(d, d); // q, k, v, out
  const ffn = linear(d, f) + linear(f, d);
  const encoder = e * (attention + ffn + 2 * layerNorm(d));
  const decoder = dl * (2 * attention + ffn + 3 * layerNorm(d)); // self- and cross-attention
  const embeddings = (cfg.sharedEmbeddings ? cfg.srcVocab : cfg.srcVocab + cfg.tgtVocab) * d;
  const positions = cfg.positional === 'learned' ? 2 * cfg.maxLen * d : 0; // src_pos, tgt_pos
  const finalNorms = cfg.norm === 'pre' ? 2 * layerNorm(d) : 0;
  const head = (cfg.sharedEmbeddings || cfg.tieOutputToTarget ? 0 : d * cfg.tgtVocab) + (cfg.generatorBias ? cfg.tgtVocab : 0);
  const vocab = cfg.srcVocab === cfg.tgtVocab ? `vocabulary ${cfg.srcVocab}` : `vocabularies ${cfg.srcVocab} and ${cfg.tgtVocab}`;
  return {
    layers: e + dl,
    params: embeddings + positions + encoder + decoder + finalNorms + head,
    description: `${e} encoder and ${dl} decoder layers of width ${d} (feed-forward ${f}), ${vocab}`,
  };
}

/**
 * One post-norm Transformer encoder layer ("Attention Is All You Need"), for Loom and for
 * onnxruntime-node from the same weights.
 *
 * Loom's side is packages/models' own encoder (buildTransformerEncoder) with one layer, so the
 * benchmark times the code users run. That graph starts from token ids: shared_embed * sqrt(D), the
 * sinusoid, the padding mask, then the layer; the ONNX graph does the same, so both compute
 *   src_ids int64/i32 [batch, src_seq] -> memory [batch, src_seq, D].
 * The embedding front is a gather and an add, small next to the layer's matmuls.
 *
 * Weight names (Loom's): shared_embed [V, D]; encoder.layers.0.self_attn.{q,k,v,out}.{weight [D, D],
 * bias}, .ffn.{fc1 [D, F], fc2 [F, D]}.{weight,bias}, .norm{1,2}.{weight,bias}.
 *
 * Dimension letters: B batch, S source length, D d_model, H heads, Dh = D / H, F d_ff, V vocabulary.
 */
import type { Graph, Weights } from '@loom/graph';
import { buildTransformerEncoder, TRANSFORMER_PRESETS, type TransformerConfig } from '@loom/models';
import { additiveMask, attend, layerNorm, linear, mergeHeads, splitHeads, weightOf } from './onnx-blocks.ts';
import { int, OnnxGraph } from './onnx-graph.ts';
import { floatOutput, ort, ortSession, tensorFor, type OrtEngine } from './ort-session.ts';

export interface EncoderLayerSizes {
  readonly dModel: number;
  readonly heads: number;
  readonly dFF: number;
  /** Rows of shared_embed: only the gather reads it, so a small table keeps the setup light. */
  readonly vocab: number;
  /** Rows of the sinusoid table, the longest source. */
  readonly maxLen: number;
}

/** The paper's base layer: d 512, 8 heads, d_ff 2048 (ReLU, post-norm, eps 1e-5). */
export const BASE_ENCODER_LAYER: EncoderLayerSizes = { dModel: 512, heads: 8, dFF: 2048, vocab: 1000, maxLen: 1024 };

/** The transformer-base config cut down to one encoder layer of these sizes. */
export function encoderLayerConfig(sizes: EncoderLayerSizes = BASE_ENCODER_LAYER): TransformerConfig {
  const { dModel, heads, dFF, vocab, maxLen } = sizes;
  return { ...TRANSFORMER_PRESETS['transformer-base'], encoderLayers: 1, decoderLayers: 0, dModel, heads, dFF, srcVocab: vocab, tgtVocab: vocab, maxLen };
}

/** Loom's graph of the layer: `src_ids` i32 [batch, src_seq] -> `memory` f32 [batch, src_seq, D]. */
export function buildLoomEncoderLayer(sizes: EncoderLayerSizes = BASE_ENCODER_LAYER): Graph {
  return buildTransformerEncoder(encoderLayerConfig(sizes));
}

/** The sinusoid, interleaved as Loom's sinusoidal_posenc: PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos. */
function sinusoidTable(maxLen: number, d: number): Float32Array {
  const table = new Float32Array(maxLen * d);
  for (let p = 0; p < maxLen; p++) {
    for (let j = 0; j < d; j++) {
      const angle = p / Math.pow(10000, (2 * Math.floor(j / 2)) / d);
      table[p * d + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return table;
}

/** The serialized ONNX model of the same layer (opset 17), `weights` as initializers. */
export function encoderLayerOnnxModel(cfg: TransformerConfig, weights: Weights): Uint8Array {
  if (cfg.encoderLayers !== 1 || cfg.norm !== 'post' || cfg.positional !== 'sinusoidal' || !cfg.sharedEmbeddings || cfg.activation !== 'relu') {
    throw new Error('onnx encoder layer: builds one post-norm ReLU layer with shared embeddings and the sinusoid only');
  }
  const g = new OnnxGraph();
  const { dModel: d, heads, eps } = cfg;
  const headDim = d / heads;
  const p = 'encoder.layers.0';
  const ids = 'src_ids';

  // PAD keys are never attended to: (B, 1, 1, S)
  const padKeys = g.node('Equal', [ids, g.int64s([cfg.padId], [])]);
  const mask = g.node('Reshape', [additiveMask(g, padKeys), g.int64s([0, 1, 1, -1])]);

  const length = g.node('Gather', [g.node('Shape', [ids]), g.int64s([1])], { axis: int(0) }); // [S]
  const positions = g.node('Slice', [g.floats(sinusoidTable(cfg.maxLen, d), [cfg.maxLen, d]), g.int64s([0]), length, g.int64s([0])]); // (S, D)
  const table = g.weight('shared_embed', weightOf(weights, 'shared_embed'));
  const tokens = g.node('Gather', [table, ids], { axis: int(0) });
  let x = g.node('Add', [cfg.embedScale ? g.node('Mul', [tokens, g.floats([Math.sqrt(d)], [])]) : tokens, positions]); // (B, S, D)

  const [q, k, v] = (['q', 'k', 'v'] as const).map((n) => splitHeads(g, linear(g, weights, `${p}.self_attn.${n}`, x), heads, headDim)) as [string, string, string];
  const attended = linear(g, weights, `${p}.self_attn.out`, mergeHeads(g, attend(g, q, k, v, headDim, mask), d));
  x = layerNorm(g, weights, `${p}.norm1`, g.node('Add', [x, attended]), eps); // LayerNorm(x + SelfAttn(x))
  const ffn = linear(g, weights, `${p}.ffn.fc2`, g.node('Relu', [linear(g, weights, `${p}.ffn.fc1`, x)]));
  x = layerNorm(g, weights, `${p}.norm2`, g.node('Add', [x, ffn]), eps); // LayerNorm(x + FFN(x))
  g.node('Identity', [x], {}, 'memory');

  return g.encode(
    'encoder_layer',
    [{ name: ids, dtype: 'int64', shape: ['batch', 'src_seq'] }],
    [{ name: 'memory', dtype: 'float32', shape: ['batch', 'src_seq', d] }],
    17,
  );
}

/** An onnxruntime-node session of the layer. */
export function ortEncoderLayerSession(cfg: TransformerConfig, weights: Weights, threads: number, engine: OrtEngine = 'node'): Promise<ort.InferenceSession> {
  return ortSession(encoderLayerOnnxModel(cfg, weights), threads, engine);
}

/** One forward: src_ids [batch, S] row-major -> memory [batch * S * D]. */
export async function ortEncoderLayerRun(session: ort.InferenceSession, ids: readonly number[], batch = 1): Promise<Float32Array> {
  const tensor = tensorFor(session, 'int64', BigInt64Array.from(ids, (id) => BigInt(id)), [batch, ids.length / batch]);
  return floatOutput(await session.run({ src_ids: tensor }), 'memory');
}

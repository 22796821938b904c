import { GraphTypeError } from './errors.ts';
import type { OpDef } from './op-def.ts';
import { cacheUpdate } from './ops/cache-update.ts';
import { cast } from './ops/cast.ts';
import { addNorm } from './ops/composite/add-norm.ts';
import { attention } from './ops/composite/attention.ts';
import { embed } from './ops/composite/embed.ts';
import { ffn } from './ops/composite/ffn.ts';
import { gluFfn } from './ops/composite/glu-ffn.ts';
import { moeFfn } from './ops/composite/moe-ffn.ts';
import { linear } from './ops/composite/linear.ts';
import { causalMask, paddingMask } from './ops/composite/mask.ts';
import { learnedPosenc, sinusoidalPosenc } from './ops/composite/posenc.ts';
import { rmsNorm } from './ops/rms-norm.ts';
import { rope } from './ops/rope.ts';
import { concat } from './ops/concat.ts';
import { binaryOps, compareOps, logicalOps, unaryOps } from './ops/elementwise.ts';
import { gather } from './ops/gather.ts';
import { layerNorm } from './ops/layer-norm.ts';
import { matmul } from './ops/matmul.ts';
import { reduceMax, reduceMean, reduceSum } from './ops/reduce.ts';
import { reshape } from './ops/reshape.ts';
import { slice } from './ops/slice.ts';
import { softmax } from './ops/softmax.ts';
import { constant, input, param, range } from './ops/sources.ts';
import { transpose } from './ops/transpose.ts';
import { where } from './ops/where.ts';
import { fusedAddLayerNorm } from './ops/fused/fused-add-layer-norm.ts';
import { fusedAttention } from './ops/fused/fused-attention.ts';
import { fusedElementwise } from './ops/fused/fused-elementwise.ts';
import { fusedMatmul } from './ops/fused/fused-matmul.ts';
import { fusedMatmulRope } from './ops/fused/fused-matmul-rope.ts';
import { fusedAddRmsNorm } from './ops/fused/fused-add-rms-norm.ts';
import { dropout } from './ops/dropout.ts';
import { scatterAdd } from './ops/scatter-add.ts';
import { topK } from './ops/top-k.ts';
import { expertMatmul } from './ops/expert-matmul.ts';
import { dequantize } from './ops/dequantize.ts';
import { quantizeActivations } from './ops/quantize-activations.ts';
import { quantizedMatmul } from './ops/fused/quantized-matmul.ts';
import { softmaxCrossEntropy } from './ops/softmax-cross-entropy.ts';

/** Every op Loom knows, keyed by name. Backends key their kernel tables by OpName. */
export const OPS = {
  input,
  param,
  constant,
  range,
  ...unaryOps,
  ...binaryOps,
  ...compareOps,
  ...logicalOps,
  where,
  cast,
  matmul,
  reduce_sum: reduceSum,
  reduce_mean: reduceMean,
  reduce_max: reduceMax,
  softmax,
  layer_norm: layerNorm,
  gather,
  reshape,
  transpose,
  slice,
  concat,
  cache_update: cacheUpdate,
  scatter_add: scatterAdd,
  top_k: topK,
  expert_matmul: expertMatmul,
  dequantize,
  quantize_activations: quantizeActivations,
  quantized_matmul: quantizedMatmul,
  softmax_cross_entropy: softmaxCrossEntropy,
  dropout,
  linear,
  embed,
  sinusoidal_posenc: sinusoidalPosenc,
  learned_posenc: learnedPosenc,
  causal_mask: causalMask,
  padding_mask: paddingMask,
  attention,
  add_norm: addNorm,
  ffn,
  rms_norm: rmsNorm,
  rope,
  glu_ffn: gluFfn,
  moe_ffn: moeFfn,
  fused_elementwise: fusedElementwise,
  fused_matmul: fusedMatmul,
  fused_matmul_rope: fusedMatmulRope,
  fused_add_rms_norm: fusedAddRmsNorm,
  fused_attention: fusedAttention,
  fused_add_layer_norm: fusedAddLayerNorm,
} as const;

export type OpName = keyof typeof OPS;

/** Attributes of op K as its op-table schema parses them (what renderers, kernels and VJP rules receive). */
export type AttrsOf<K extends OpName> = (typeof OPS)[K] extends OpDef<infer A> ? A : never;

export function isOpName(name: string): name is OpName {
  return Object.hasOwn(OPS, name);
}

export function getOp(name: string): OpDef {
  if (!isOpName(name)) throw new GraphTypeError(`unknown op '${name}'`);
  return OPS[name] as OpDef;
}

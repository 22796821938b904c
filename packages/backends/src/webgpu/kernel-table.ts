import { getOp, isOpName, type GraphNode } from '@loom/graph';
import { UnsupportedOpError } from './errors.ts';
import type { AnyKernelRenderer, KernelTable } from './kernel.ts';
import { attentionKernel } from './kernels/attention.ts';
import { cacheUpdateKernel } from './kernels/cache-update.ts';
import { dropoutKernel } from './kernels/dropout.ts';
import { fusedElementwiseKernel, primitiveElementwiseKernel } from './kernels/elementwise.ts';
import { gatherKernel } from './kernels/gather.ts';
import { fusedAddLayerNormKernel, fusedAddRmsNormKernel, layerNormKernel, rmsNormKernel } from './kernels/layer-norm.ts';
import { concatKernel, rangeKernel, sliceKernel, transposeKernel } from './kernels/layout.ts';
import { fusedMatmulKernel, matmulKernel } from './kernels/matmul.ts';
import { reduceKernel } from './kernels/reduce.ts';
import { ropeKernel } from './kernels/rope.ts';
import { scatterAddKernel } from './kernels/scatter-add.ts';
import { softmaxKernel } from './kernels/softmax.ts';
import { softmaxCrossEntropyKernel } from './kernels/softmax-cross-entropy.ts';

/**
 * The WebGPU kernels by op. Every op of category 'elementwise' (unary, binary, comparison, where,
 * cast) shares the expression renderer; reshape is a view (no kernel); input, param and constant are
 * buffers, not steps. Composite ops never reach a backend: compile() expands them.
 */
export const WEBGPU_KERNELS: KernelTable = {
  fused_elementwise: fusedElementwiseKernel,
  matmul: matmulKernel,
  fused_matmul: fusedMatmulKernel,
  fused_attention: attentionKernel,
  fused_add_layer_norm: fusedAddLayerNormKernel,
  layer_norm: layerNormKernel,
  rms_norm: rmsNormKernel,
  fused_add_rms_norm: fusedAddRmsNormKernel,
  rope: ropeKernel,
  softmax: softmaxKernel,
  reduce_sum: reduceKernel,
  reduce_mean: reduceKernel,
  reduce_max: reduceKernel,
  gather: gatherKernel,
  transpose: transposeKernel,
  slice: sliceKernel,
  concat: concatKernel,
  range: rangeKernel,
  cache_update: cacheUpdateKernel,
  scatter_add: scatterAddKernel,
  softmax_cross_entropy: softmaxCrossEntropyKernel,
  dropout: dropoutKernel,
};

export type { AnyKernelRenderer };

/** The renderer for a node, or UnsupportedOpError naming the op and the node. */
export function kernelFor(node: GraphNode): AnyKernelRenderer {
  const where = `node %${node.id}${node.source ? ` at ${node.source}` : ''}`;
  if (!isOpName(node.op)) throw new UnsupportedOpError(node.op, `${where}: not an op of the op table`);
  const def = getOp(node.op);
  if (def.category === 'elementwise') return primitiveElementwiseKernel;
  const renderer = WEBGPU_KERNELS[node.op];
  if (!renderer) {
    const why = def.category === 'composite' ? 'composite ops must be expanded by compile() first' : 'the WebGPU backend has no kernel for it';
    throw new UnsupportedOpError(node.op, `${where}: ${why}`);
  }
  return renderer as unknown as AnyKernelRenderer;
}

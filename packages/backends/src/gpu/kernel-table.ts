import { getOp, isOpName, type GraphNode, type OpName } from '@loom/graph';
import type { GpuBackendName } from './errors.ts';

/**
 * Which renderer each op takes on the GPU backends: one table for WebGPU and WebGL, so the two run
 * the same set of ops. A new op's GPU kernel is a line here and a renderer of that name in each
 * backend's kernels/ (its `GpuRenderers` record does not type-check until both have one). Every op
 * of category 'elementwise' (unary, binary, comparison, where, cast) takes `primitiveElementwiseKernel`;
 * reshape is a view (no kernel); input, param and constant are buffers or textures, not steps.
 */
export const GPU_KERNELS = {
  fused_elementwise: 'fusedElementwiseKernel',
  matmul: 'matmulKernel',
  fused_matmul: 'fusedMatmulKernel',
  fused_attention: 'attentionKernel',
  fused_add_layer_norm: 'fusedAddLayerNormKernel',
  layer_norm: 'layerNormKernel',
  rms_norm: 'rmsNormKernel',
  fused_add_rms_norm: 'fusedAddRmsNormKernel',
  rope: 'ropeKernel',
  softmax: 'softmaxKernel',
  reduce_sum: 'reduceKernel',
  reduce_mean: 'reduceKernel',
  reduce_max: 'reduceKernel',
  gather: 'gatherKernel',
  transpose: 'transposeKernel',
  slice: 'sliceKernel',
  concat: 'concatKernel',
  range: 'rangeKernel',
  cache_update: 'cacheUpdateKernel',
  scatter_add: 'scatterAddKernel',
  softmax_cross_entropy: 'softmaxCrossEntropyKernel',
  dropout: 'dropoutKernel',
  top_k: 'topKKernel',
  expert_matmul: 'expertMatmulKernel',
  quantized_matmul: 'quantizedMatmulKernel',
  dequantize: 'dequantizeKernel',
  quantize_activations: 'quantizeActivationsKernel',
} as const satisfies Partial<Record<OpName, string>>;

export type GpuKernelName = (typeof GPU_KERNELS)[keyof typeof GPU_KERNELS] | 'primitiveElementwiseKernel';

/** A backend's renderers, by the names of GPU_KERNELS (each file of kernels/ exports its own). */
export type GpuRenderers<R> = { readonly [K in GpuKernelName]: R };

/**
 * The renderer `renderers` gives `node`; an op without one (not in the op table, a composite that
 * compile() should have expanded, an op no GPU kernel exists for) is `unsupported(op, why)`.
 */
export function gpuKernelFor<R>(backend: GpuBackendName, renderers: GpuRenderers<R>, node: GraphNode, unsupported: (op: string, why: string) => Error): R {
  const where = `node %${node.id}${node.source ? ` at ${node.source}` : ''}`;
  if (!isOpName(node.op)) throw unsupported(node.op, `${where}: not an op of the op table`);
  const def = getOp(node.op);
  if (def.category === 'elementwise') return renderers.primitiveElementwiseKernel;
  const name = (GPU_KERNELS as Partial<Record<OpName, GpuKernelName>>)[node.op];
  if (!name) {
    const why = def.category === 'composite' ? 'composite ops must be expanded by compile() first' : `the ${backend === 'webgl' ? 'WebGL' : 'WebGPU'} backend has no kernel for it`;
    throw unsupported(node.op, `${where}: ${why}`);
  }
  return renderers[name];
}

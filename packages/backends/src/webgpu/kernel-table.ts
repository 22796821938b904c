import type { GraphNode } from '@loom/graph';
import { gpuKernelFor, type GpuRenderers } from '../gpu/kernel-table.ts';
import { UnsupportedOpError } from './errors.ts';
import type { AnyKernelRenderer, KernelLaunch } from './kernel.ts';
import { attentionKernel } from './kernels/attention.ts';
import { cacheUpdateKernel } from './kernels/cache-update.ts';
import { dropoutKernel } from './kernels/dropout.ts';
import { fusedElementwiseKernel, primitiveElementwiseKernel } from './kernels/elementwise.ts';
import { gatherKernel } from './kernels/gather.ts';
import { topKKernel } from './kernels/top-k.ts';
import { expertMatmulKernel } from './kernels/expert-matmul.ts';
import { fusedAddLayerNormKernel, fusedAddRmsNormKernel, layerNormKernel, rmsNormKernel } from './kernels/layer-norm.ts';
import { concatKernel, rangeKernel, sliceKernel, transposeKernel } from './kernels/layout.ts';
import { fusedMatmulKernel, matmulKernel, quantizedMatmulKernel } from './kernels/matmul.ts';
import { dequantizeKernel } from './kernels/dequantize.ts';
import { quantizeActivationsKernel } from './kernels/quantize-activations.ts';
import { reduceKernel } from './kernels/reduce.ts';
import { ropeKernel } from './kernels/rope.ts';
import { scatterAddKernel } from './kernels/scatter-add.ts';
import { softmaxKernel } from './kernels/softmax.ts';
import { softmaxCrossEntropyKernel } from './kernels/softmax-cross-entropy.ts';

/** The WebGPU renderers by name: gpu/kernel-table.ts says which op takes which (the same as WebGL's). */
export const WEBGPU_KERNELS = {
  ...{ attentionKernel, cacheUpdateKernel, dropoutKernel, fusedElementwiseKernel, primitiveElementwiseKernel, gatherKernel, scatterAddKernel, topKKernel, expertMatmulKernel },
  ...{ fusedAddLayerNormKernel, fusedAddRmsNormKernel, layerNormKernel, rmsNormKernel, ropeKernel, softmaxKernel, softmaxCrossEntropyKernel },
  ...{ concatKernel, rangeKernel, sliceKernel, transposeKernel, fusedMatmulKernel, matmulKernel, reduceKernel, quantizedMatmulKernel, dequantizeKernel, quantizeActivationsKernel },
} satisfies GpuRenderers<(ctx: never) => KernelLaunch[]>;

export type { AnyKernelRenderer };

/** The renderer for a node, or UnsupportedOpError naming the op and the node. */
export function kernelFor(node: GraphNode): AnyKernelRenderer {
  return gpuKernelFor('webgpu', WEBGPU_KERNELS, node, (op, why) => new UnsupportedOpError(op, why)) as AnyKernelRenderer;
}

import { broadcastStrides, erf, gelu, geluTanh, sizeOf, writeBlock } from '@loom/graph';
import { attentionOnline } from './kernels/attention.ts';
import { batchedMatmul } from './kernels/matmul.ts';
import { concatInto, gatherRows, sliceInto, transposeInto } from './kernels/movement.ts';
import { layerNormRows, reduceAxes, softmaxAxis } from './kernels/normalize.ts';

/** The helpers generated kernels call as `rt.*`. */
export const cpuRuntime = {
  erf,
  gelu,
  geluTanh,
  broadcastStrides,
  sizeOf,
  matmul: batchedMatmul,
  softmax: softmaxAxis,
  layerNorm: layerNormRows,
  reduce: reduceAxes,
  attention: attentionOnline,
  gather: gatherRows,
  transpose: transposeInto,
  slice: sliceInto,
  concat: concatInto,
  writeBlock,
};

export type CpuRuntime = typeof cpuRuntime;

import { broadcastStrides, erf, gelu, geluTanh, roundActivations, sizeOf, topKRows, writeBlock } from '@loom/graph';
import { attentionWasm, type AttentionExtrasArgs } from './kernels/attention.ts';
import { expertMatmul } from './kernels/expert-matmul.ts';
import { batchedMatmul, transposedOperand, type EpilogueArrays } from './kernels/matmul.ts';
import { dequantizeCodes, quantizedMatmul } from './kernels/quantized-matmul.ts';
import { concatInto, gatherRows, sliceInto, transposeInto } from './kernels/movement.ts';
import { layerNormWasm } from './kernels/layer-norm.ts';
import { ropeInto } from './kernels/rope.ts';
import { rmsNormRows } from './kernels/normalize.ts';
import { reduceWasm } from './kernels/reduce.ts';
import { softmaxCrossEntropyWasm, softmaxWasm } from './kernels/softmax.ts';
import { elementwiseWasm } from './kernels/elementwise.ts';
import { dropoutInto, scatterAddRows } from './kernels/training.ts';
import { contiguousLayout, gatherInto, type Layout } from './layout.ts';
import type { KernelSettings, WasmRuntime } from './wasm-runtime/runtime.ts';

/**
 * The helpers generated kernels call as `rt.*`, bound to one program's kernel settings (threads,
 * SIMD flavor, weight store). `dense` turns a strided view into contiguous data (in place when it
 * already is, else a block copy into a heap temporary that lives until the kernel ends).
 */
export function createCpuRuntime(wasm: WasmRuntime, settings: KernelSettings) {
  const ctx = { rt: wasm, settings };
  const temporaries: number[] = [];
  const dense = <T extends Float32Array | Int32Array>(data: T, layout: Layout | undefined): T => {
    if (!layout) return data;
    const size = sizeOf(layout.shape);
    const at = wasm.heap.alloc(Math.max(size, 1) * 4);
    temporaries.push(at);
    const out = (data instanceof Int32Array ? wasm.heap.i32(at, size) : wasm.heap.f32(at, size)) as T;
    gatherInto(data, layout, out);
    return out;
  };
  /** An attention operand: strided in place when its rows are contiguous, else densified. */
  const operand = (data: Float32Array, layout: Layout | undefined, shape: readonly number[]) => {
    const l = layout ?? contiguousLayout(shape);
    if (!l.reshapeOf && l.strides[l.strides.length - 1] === 1) return { data, layout: l };
    return { data: dense(data, l), layout: contiguousLayout(shape) };
  };
  return {
    erf,
    gelu,
    geluTanh,
    broadcastStrides,
    sizeOf,
    dense,
    elementwise: (key: string, ins: (Float32Array | Int32Array)[], out: Float32Array | Int32Array, outShape: readonly number[]) => elementwiseWasm(wasm, settings, key, ins, out, outShape),
    matmul: (a: Float32Array, aLayout: Layout | undefined, b: Float32Array, out: Float32Array, aShape: readonly number[], bShape: readonly number[], outShape: readonly number[], transposeB: boolean, epilogue?: EpilogueArrays) => {
      // a transposed matrix (X^T of a weight gradient) is packed from X where it lies; other views are copied dense
      const transposed = transposedOperand(ctx, a, aLayout, aShape, bShape, outShape);
      return batchedMatmul(ctx, transposed ? a : dense(a, aLayout), b, out, aShape, bShape, outShape, transposeB, epilogue, transposed);
    },
    quantizedMatmul: (a: Float32Array, aLayout: Layout | undefined, codes: Int32Array, codesShape: readonly number[], scales: Float32Array, zeroPoints: Float32Array | undefined, out: Float32Array, aShape: readonly number[], bits: 8 | 4, group: number, int8: boolean, epilogue?: EpilogueArrays) =>
      quantizedMatmul(ctx, dense(a, aLayout), aShape, { codes, scales, zeroPoints, bits, group, k: aShape[aShape.length - 1]!, n: codesShape[0]! }, out, int8, epilogue),
    quantizeActivations: (x: Float32Array, out: Float32Array, k: number, group: number) => roundActivations(x, out, k, group),
    dequantize: (codes: Int32Array, scales: Float32Array, zeroPoints: Float32Array | undefined, out: Float32Array, bits: 8 | 4, group: number, k: number, transpose: boolean) =>
      dequantizeCodes(codes, scales, zeroPoints, out, bits, group, k, transpose),
    attention: (ins: Float32Array[], inShapes: number[][], layouts: (Layout | undefined)[], out: Float32Array, outShape: number[], scale: number, hasMask = ins.length > 3, extras?: AttentionExtrasArgs) =>
      attentionWasm(
        wasm,
        settings,
        operand(ins[0]!, layouts[0], inShapes[0]!),
        operand(ins[1]!, layouts[1], inShapes[1]!),
        operand(ins[2]!, layouts[2], inShapes[2]!),
        hasMask ? { data: ins[3]!, shape: inShapes[3]! } : undefined,
        out,
        outShape,
        scale,
        extras,
      ),
    softmax: (x: Float32Array, out: Float32Array, shape: readonly number[], axis: number) => softmaxWasm(wasm, settings, x, out, shape, axis),
    rmsNorm: rmsNormRows,
    rope: ropeInto,
    layerNorm: (x: Float32Array, residual: Float32Array | undefined, gamma: Float32Array, beta: Float32Array, out: Float32Array, d: number, eps: number) =>
      layerNormWasm(wasm, settings, x, residual, gamma, beta, out, d, eps),
    reduce: (kind: 'sum' | 'mean' | 'max', x: Float32Array | Int32Array, out: Float32Array | Int32Array, shape: readonly number[], axes: readonly number[]) => reduceWasm(wasm, settings, kind, x, out, shape, axes),
    gather: gatherRows,
    transpose: transposeInto,
    slice: sliceInto,
    concat: concatInto,
    writeBlock,
    scatterAdd: scatterAddRows,
    softmaxCrossEntropy: (logits: Float32Array, labels: Int32Array, out: Float32Array, classes: number, ignoreIndex: number | null, smoothing: number) =>
      softmaxCrossEntropyWasm(wasm, settings, logits, labels, out, classes, ignoreIndex, smoothing),
    dropout: dropoutInto,
    topK: topKRows,
    expertMatmul: (x: Float32Array, w: Float32Array, wShape: readonly number[], ids: Int32Array, idsShape: readonly number[], out: Float32Array, transposeB: boolean, sum: boolean) =>
      expertMatmul(ctx, x, w, wShape, ids, idsShape, out, transposeB, sum),
    /** Frees the temporaries of the kernel that just ran. */
    endKernel: () => {
      for (const at of temporaries) wasm.heap.release(at);
      temporaries.length = 0;
    },
  };
}

export type CpuRuntime = ReturnType<typeof createCpuRuntime>;


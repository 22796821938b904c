import { batchOffsets, sizeOf } from '@loom/graph';
import { gemm } from './gemm.ts';
import { gemmWasm } from './gemm-wasm.ts';
import { gemvWasm } from './gemv-wasm.ts';

/**
 * Batched matmul into `out`: a[..., M, K] @ b[..., K, N] (or b[..., N, K] with transposeB), batch
 * axes broadcast. Each matrix product goes to the SIMD WebAssembly GEMM; single rows (decoding) go to
 * the SIMD matrix-vector kernels when B is a resident weight, else stream B in plain JavaScript
 * (packing would cost as much as the product).
 */
export function batchedMatmul(
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  aShape: readonly number[],
  bShape: readonly number[],
  outShape: readonly number[],
  transposeB: boolean,
): void {
  const rank = outShape.length;
  const m = outShape[rank - 2]!;
  const n = outShape[rank - 1]!;
  const k = aShape[aShape.length - 1]!;
  const batchShape = outShape.slice(0, -2);
  const batches = sizeOf(batchShape);
  const aBatches = batchOffsets(aShape.slice(0, -2), batchShape);
  const bBatches = batchOffsets(bShape.slice(0, -2), batchShape);
  for (let batch = 0; batch < batches; batch++) {
    const aBatch = aBatches[batch]!;
    const bBatch = bBatches[batch]!;
    const args = { a, aOffset: aBatch * m * k, b, bOffset: bBatch * k * n, c: out, cOffset: batch * m * n, m, n, k, transposeB };
    if (m === 1) {
      if (!gemvWasm(args, 0)) gemm(args);
    } else if (m * n * k < 4096) gemm(args);
    else gemmWasm(args);
  }
}

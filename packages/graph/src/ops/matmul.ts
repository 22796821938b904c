import { z } from 'zod';
import { allocStorage, sizeOf } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { broadcastShapes, dimEquals, formatShape } from '../shape.ts';
import { batchOffsets } from './broadcast.ts';

/**
 * Batched matrix product a[..., M, K] @ b[..., K, N] -> [..., M, N], batch axes broadcast.
 * With transposeB, b is read as [..., N, K] (x @ W^T, q @ k^T) without materializing the transpose.
 */
export const matmul = defineOp({
  name: 'matmul',
  category: 'primitive',
  summary: 'batched matrix product with broadcasting batch axes',
  attrs: z.object({ transposeB: z.boolean().default(false) }).strict(),
  inputs: ['a', 'b'],
  minInputs: 2,
  infer([a, b], attrs) {
    typeRule(a!.dtype === 'f32' && b!.dtype === 'f32', `needs f32 inputs, got ${a!.dtype} and ${b!.dtype}`);
    typeRule(a!.shape.length >= 2 && b!.shape.length >= 2, 'both inputs need rank >= 2');
    const [m, k] = a!.shape.slice(-2);
    const [bk, n] = attrs.transposeB ? [...b!.shape.slice(-2)].reverse() : b!.shape.slice(-2);
    typeRule(dimEquals(k!, bk!), `contraction dimensions differ: ${k} (a) and ${bk} (b${attrs.transposeB ? ', transposed' : ''})`);
    const batch = broadcastShapes(a!.shape.slice(0, -2), b!.shape.slice(0, -2));
    typeRule(batch, `batch dimensions ${formatShape(a!.shape.slice(0, -2))} and ${formatShape(b!.shape.slice(0, -2))} do not broadcast`);
    return { dtype: 'f32', shape: [...batch, m!, n!] };
  },
  evaluate([a, b], attrs, ctx) {
    const out = ctx.outShape;
    const rank = out.length;
    const [M, N] = [out[rank - 2]!, out[rank - 1]!];
    const K = a!.shape[a!.shape.length - 1]!;
    const batchShape = out.slice(0, -2);
    const batches = sizeOf(batchShape);
    const aBatch = batchOffsets(a!.shape.slice(0, -2), batchShape);
    const bBatch = batchOffsets(b!.shape.slice(0, -2), batchShape);
    const result = allocStorage('f32', sizeOf(out), ctx.precision);
    const A = a!.data;
    const B = b!.data;
    const row = new Float64Array(N);
    for (let batch = 0; batch < batches; batch++) {
      const aOff = aBatch[batch]! * M * K;
      const bOff = bBatch[batch]! * K * N;
      for (let i = 0; i < M; i++) {
        const aRow = aOff + i * K;
        if (attrs.transposeB) {
          // b is [N, K]: each output is a dot product of two contiguous rows
          for (let j = 0; j < N; j++) {
            const bRow = bOff + j * K;
            let sum = 0;
            for (let k = 0; k < K; k++) sum += A[aRow + k]! * B[bRow + k]!;
            row[j] = sum;
          }
        } else {
          row.fill(0);
          for (let k = 0; k < K; k++) {
            const av = A[aRow + k]!;
            const bRow = bOff + k * N;
            for (let j = 0; j < N; j++) row[j]! += av * B[bRow + j]!;
          }
        }
        result.set(row, batch * M * N + i * N);
      }
    }
    return { dtype: 'f32', shape: out, data: result };
  },
});

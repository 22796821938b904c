import type { NodeRef } from '@loom/graph';
import { unbroadcast, type GradEmitter } from '../emit.ts';
import type { VjpTable } from '../vjp.ts';

/** The last two axes of x swapped. */
function swapLast(b: GradEmitter, x: NodeRef): NodeRef {
  const rank = b.typeOf(x).shape.length;
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return b.add('transpose', [x], { perm });
}

/** x [..., R, C] with every leading axis folded into the rows: [(...) * R, C]. */
function rows(b: GradEmitter, x: NodeRef): NodeRef {
  const shape = b.typeOf(x).shape;
  return shape.length === 2 ? x : b.add('reshape', [x], { shape: [-1, shape[shape.length - 1]!] });
}

/**
 * C = A B (batch axes broadcast): dA = dC B^T, dB = A^T dC. With transposeB (C = A B^T, B as
 * [..., N, K]): dA = dC B, dB = dC^T A. Batch axes an operand was broadcast along are summed back.
 * A weight (B of rank 2) under batched activations, the common case of a linear layer, gets its
 * gradient from one product over all rows ((B T) x K by (B T) x N), not one per batch element
 * summed afterwards.
 */
export const MATMUL_RULES: VjpTable = {
  matmul: ({ b, inputs, cotangent: g, attrs, needs }) => {
    const [a, w] = inputs as [NodeRef, NodeRef];
    const da = needs(0) ? (attrs.transposeB ? b.add('matmul', [g, w]) : b.add('matmul', [g, w], { transposeB: true })) : undefined;
    let dw: NodeRef | undefined;
    if (needs(1)) {
      const weight = b.typeOf(w).shape.length === 2 && b.typeOf(a).shape.length > 2;
      if (weight) dw = attrs.transposeB ? b.add('matmul', [swapLast(b, rows(b, g)), rows(b, a)]) : b.add('matmul', [swapLast(b, rows(b, a)), rows(b, g)]);
      else dw = attrs.transposeB ? b.add('matmul', [swapLast(b, g), a]) : b.add('matmul', [swapLast(b, a), g]);
    }
    return [da && unbroadcast(b, da, b.typeOf(a)), dw && unbroadcast(b, dw, b.typeOf(w))];
  },
};

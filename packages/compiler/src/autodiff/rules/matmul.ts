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

/**
 * C = A B (batch axes broadcast): dA = dC B^T, dB = A^T dC. With transposeB (C = A B^T, B as
 * [..., N, K]): dA = dC B, dB = dC^T A. Batch axes an operand was broadcast along are summed back.
 */
export const MATMUL_RULES: VjpTable = {
  matmul: ({ b, inputs, cotangent: g, attrs, needs }) => {
    const [a, w] = inputs as [NodeRef, NodeRef];
    const da = needs(0) ? (attrs.transposeB ? b.add('matmul', [g, w]) : b.add('matmul', [g, w], { transposeB: true })) : undefined;
    const dw = needs(1) ? (attrs.transposeB ? b.add('matmul', [swapLast(b, g), a]) : b.add('matmul', [swapLast(b, a), g])) : undefined;
    return [da && unbroadcast(b, da, b.typeOf(a)), dw && unbroadcast(b, dw, b.typeOf(w))];
  },
};

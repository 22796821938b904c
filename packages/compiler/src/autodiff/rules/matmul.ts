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
/**
 * expert_matmul's weight gradient: for each expert, the rows that picked it, X_e^T G_e. Written
 * densely (each row masked per expert by a one-hot of its id), so it costs E times the rows'
 * products: the forward pass is sparse, this backward pass is not yet.
 */
function expertWeightGrad(b: GradEmitter, x: NodeRef, w: NodeRef, ids: NodeRef, g: NodeRef, transposeB: boolean): NodeRef {
  const [experts, wk, wn] = b.typeOf(w).shape as [number, number, number];
  const [k, n] = transposeB ? [wn, wk] : [wk, wn];
  const idShape = b.typeOf(ids).shape;
  const xShape = b.typeOf(x).shape;
  // every row of x as the ids see them (a token's one row read by each of its ids)
  const rows = String(xShape[xShape.length - 2]) === String(idShape[idShape.length - 1]) ? x : b.add('broadcast_like', [x, b.add('reshape', [b.add('cast', [ids], { dtype: 'f32' })], { shape: [...idShape, 1] })]);
  const xr = b.add('reshape', [rows], { shape: [-1, k] }); // (R, K)
  const gr = b.add('reshape', [g], { shape: [-1, n] }); // (R, N)
  const onehot = b.add('cast', [b.add('equal', [b.add('reshape', [ids], { shape: [-1, 1] }), b.add('range', [], { size: experts })])], { dtype: 'f32' }); // (R, E)
  const masked = b.add('mul', [b.add('reshape', [b.add('transpose', [onehot], { perm: [1, 0] })], { shape: [experts, -1, 1] }), xr]); // (E, R, K)
  const dw = b.add('matmul', [b.add('transpose', [masked], { perm: [0, 2, 1] }), gr]); // (E, K, N)
  return transposeB ? b.add('transpose', [dw], { perm: [0, 2, 1] }) : dw;
}

/**
 * dequantize's gradient: W = scale (code - zero point) per group of `group` weights along K, so
 * d scale = sum over the group of dW (code - zero point) and d zero point = -scale sum over the group
 * of dW; codes are integers (none). The K axis is padded with zeros to whole groups and folded.
 */
function dequantizeGrads(b: GradEmitter, inputs: readonly NodeRef[], g: NodeRef, attrs: { bits: 8 | 4; group: number; k: number; transpose: boolean; zeroPoints: boolean }, needs: (i: number) => boolean): (NodeRef | undefined)[] {
  const [codes, scales, zeroPoints] = inputs as [NodeRef, NodeRef, NodeRef | undefined];
  const [n, groups] = b.typeOf(scales).shape as [number, number];
  const pad = groups * attrs.group - attrs.k;
  /** [N, K] -> [N, groups, group], K padded with zeros to whole groups. */
  const blocks = (x: NodeRef): NodeRef => {
    const padded = pad > 0 ? b.add('concat', [x, b.constant(0, [n, pad])], { axis: 1 }) : x;
    return b.add('reshape', [padded], { shape: [n, groups, attrs.group] });
  };
  const gBlocks = blocks(attrs.transpose ? g : b.add('transpose', [g], { perm: [1, 0] }));
  let dScales: NodeRef | undefined;
  if (needs(1)) {
    // code - zero point for every weight: the dequantized matrix with unit scales, [N, K]
    const centered = b.add('dequantize', [codes, b.constant(1, [n, groups]), ...(zeroPoints !== undefined ? [zeroPoints] : [])], { ...attrs, transpose: true });
    dScales = b.add('reduce_sum', [b.add('mul', [gBlocks, blocks(centered)])], { axes: [2], keepDims: false });
  }
  const dZero = zeroPoints !== undefined && needs(2) ? b.add('neg', [b.add('mul', [scales, b.add('reduce_sum', [gBlocks], { axes: [2], keepDims: false })])]) : undefined;
  return [undefined, dScales, dZero];
}

export const MATMUL_RULES: VjpTable = {
  dequantize: ({ b, inputs, cotangent, attrs, needs }) => dequantizeGrads(b, inputs, cotangent, attrs, needs),
  expert_matmul: ({ b, inputs, cotangent, attrs, needs }) => {
    const [x, w, ids] = inputs as [NodeRef, NodeRef, NodeRef];
    // with sum, each of the J products gets the token's cotangent: (..., N) -> (..., J, N)
    const idShape = b.typeOf(ids).shape;
    const g = attrs.sum ? b.add('broadcast_like', [b.add('reshape', [cotangent], { shape: [...idShape.slice(0, -1), 1, b.typeOf(cotangent).shape.at(-1)!] }), b.add('reshape', [b.add('cast', [ids], { dtype: 'f32' })], { shape: [...idShape, 1] })]) : cotangent;
    let dx: NodeRef | undefined;
    if (needs(0)) {
      // each row's cotangent back through its own expert's matrix, transposed
      dx = b.add('expert_matmul', [g, w, ids], { transposeB: !attrs.transposeB }); // (..., J, K)
      const xShape = b.typeOf(x).shape;
      const rowAxis = xShape.length - 2;
      if (String(xShape[rowAxis]) !== String(b.typeOf(dx).shape[rowAxis])) dx = b.add('reduce_sum', [dx], { axes: [rowAxis], keepDims: true });
    }
    return [dx, needs(1) ? expertWeightGrad(b, x, w, ids, g, attrs.transposeB) : undefined, undefined];
  },
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

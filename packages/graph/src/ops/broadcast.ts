import { stridesOf } from '../ndarray.ts';

/**
 * Strides of `shape` read as if broadcast to `outShape` (stride 0 along broadcast axes), so one
 * loop over the output can find every input element.
 */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = stridesOf(shape);
  const offset = outShape.length - shape.length;
  return outShape.map((_, i) => {
    const j = i - offset;
    return j < 0 || shape[j] === 1 ? 0 : own[j]!;
  });
}

/**
 * Calls `visit(outIndex, inOffsets)` for every output element, in order. `inOffsets` is reused
 * between calls: read it, do not keep it.
 */
export function forEachBroadcast(
  outShape: readonly number[],
  inShapes: readonly (readonly number[])[],
  visit: (outIndex: number, inOffsets: Int32Array) => void,
): void {
  const rank = outShape.length;
  const strides = inShapes.map((s) => broadcastStrides(s, outShape));
  const offsets = new Int32Array(inShapes.length);
  const counter = new Int32Array(rank);
  let total = 1;
  for (const d of outShape) total *= d;
  for (let i = 0; i < total; i++) {
    visit(i, offsets);
    // advance the multi-index like an odometer and keep the input offsets in step
    for (let axis = rank - 1; axis >= 0; axis--) {
      counter[axis]!++;
      for (let k = 0; k < strides.length; k++) offsets[k]! += strides[k]![axis]!;
      if (counter[axis]! < outShape[axis]!) break;
      for (let k = 0; k < strides.length; k++) offsets[k]! -= strides[k]![axis]! * outShape[axis]!;
      counter[axis] = 0;
    }
  }
}

/**
 * For a batched product over `batchShape`, the batch index of each operand at every output batch
 * (in elements of batches, so multiply by the matrix size): one entry per output batch, in order.
 */
export function batchOffsets(operandBatch: readonly number[], batchShape: readonly number[]): Int32Array {
  let total = 1;
  for (const d of batchShape) total *= d;
  const offsets = new Int32Array(total);
  forEachBroadcast(batchShape, [operandBatch], (i, off) => {
    offsets[i] = off[0]!;
  });
  return offsets;
}

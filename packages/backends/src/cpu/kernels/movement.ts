import { LoomError, stridesOf, type Storage } from '@loom/graph';

/** Data movement kernels: they copy elements and compute nothing. */

export function transposeInto(x: Storage, out: Storage, inShape: readonly number[], perm: readonly number[]): void {
  const inStrides = stridesOf(inShape);
  const outShape = perm.map((p) => inShape[p]!);
  const src = perm.map((p) => inStrides[p]!);
  const rank = outShape.length;
  const counter = new Array<number>(rank).fill(0);
  const n = rank === 0 ? 1 : outShape[rank - 1]!;
  const innerStride = rank === 0 ? 0 : src[rank - 1]!;
  let off = 0;
  for (let base = 0; base < out.length; base += n) {
    for (let j = 0; j < n; j++) out[base + j] = x[off + j * innerStride]!;
    for (let ax = rank - 2; ax >= 0; ax--) {
      counter[ax]!++;
      off += src[ax]!;
      if (counter[ax]! < outShape[ax]!) break;
      off -= src[ax]! * outShape[ax]!;
      counter[ax] = 0;
    }
  }
}

export function sliceInto(x: Storage, out: Storage, inShape: readonly number[], axis: number, start: number, step: number, count: number): void {
  const dim = inShape[axis]!;
  let outer = 1;
  for (let d = 0; d < axis; d++) outer *= inShape[d]!;
  let inner = 1;
  for (let d = axis + 1; d < inShape.length; d++) inner *= inShape[d]!;
  if (inner < 16) {
    // short runs (a slice of the last axis: inner is 1): a loop, not a subarray per element, which cost 50 ns each
    let to = 0;
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < count; k++) {
        const from = (o * dim + start + k * step) * inner;
        for (let i = 0; i < inner; i++) out[to++] = x[from + i]!;
      }
    }
    return;
  }
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < count; k++) {
      const from = (o * dim + start + k * step) * inner;
      out.set(x.subarray(from, from + inner), (o * count + k) * inner);
    }
  }
}

export function concatInto(xs: readonly Storage[], shapes: readonly (readonly number[])[], out: Storage, outShape: readonly number[], axis: number): void {
  let outer = 1;
  for (let d = 0; d < axis; d++) outer *= outShape[d]!;
  let inner = 1;
  for (let d = axis + 1; d < outShape.length; d++) inner *= outShape[d]!;
  const outRow = outShape[axis]! * inner;
  let offset = 0;
  xs.forEach((x, i) => {
    const row = shapes[i]![axis]! * inner;
    for (let o = 0; o < outer; o++) out.set(x.subarray(o * row, (o + 1) * row), o * outRow + offset);
    offset += row;
  });
}

/** Table rows by index; an index outside the table names the table and the position. */
export function gatherRows(table: Storage, indices: Int32Array, out: Storage, rows: number, width: number, tableName: string): void {
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i]!;
    if (!(r >= 0 && r < rows)) throw new LoomError('index-out-of-range', `gather from ${tableName}: index ${r} at position ${i} is outside its ${rows} rows`);
    out.set(table.subarray(r * width, (r + 1) * width), i * width);
  }
}

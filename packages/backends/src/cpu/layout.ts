import { stridesOf } from '@loom/graph';

/**
 * How a tensor lies in its buffer: element offset and per-axis strides (in elements). A strided view
 * (a slice or a transpose the plan did not copy) is its source's layout, changed by the view ops in
 * between; `reshapeOf` keeps the logical order of a non-contiguous layout that a reshape cannot
 * express with strides (e.g. merging transposed heads back into one axis).
 */
export interface Layout {
  readonly offset: number;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  /** Set when a reshape could not be expressed: the tensor is `shape`'s elements in the logical order of this base. */
  readonly reshapeOf?: Layout;
  /** Set when the tensor was copied out of its owner's buffer into this temporary (see CpuProgram). */
  readonly data?: Float32Array | Int32Array;
}

export const contiguousLayout = (shape: readonly number[]): Layout => ({ offset: 0, shape, strides: stridesOf(shape) });

export function isContiguous(l: Layout): boolean {
  if (l.reshapeOf) return false;
  let expect = 1;
  for (let d = l.shape.length - 1; d >= 0; d--) {
    if (l.shape[d] !== 1 && l.strides[d] !== expect) return false;
    expect *= l.shape[d]!;
  }
  return true;
}

export function sliceLayout(l: Layout, axis: number, start: number, step: number, count: number): Layout {
  const base = materialized(l);
  const shape = [...base.shape];
  shape[axis] = count;
  const strides = [...base.strides];
  strides[axis] = base.strides[axis]! * step;
  return { offset: base.offset + start * base.strides[axis]!, shape, strides, ...(base.data ? { data: base.data } : {}) };
}

export function transposeLayout(l: Layout, perm: readonly number[]): Layout {
  const base = materialized(l);
  return { offset: base.offset, shape: perm.map((p) => base.shape[p]!), strides: perm.map((p) => base.strides[p]!), ...(base.data ? { data: base.data } : {}) };
}

/** A reshape: new strides where every new axis lies within one run of mergeable old axes, else reshapeOf. */
export function reshapeLayout(l: Layout, shape: readonly number[]): Layout {
  const data = l.data ? { data: l.data } : {};
  if (isContiguous(l)) return { offset: l.offset, shape, strides: stridesOf(shape), ...data };
  const base = materialized(l);
  const strides = restride(base.shape.filter((d) => d !== 1), base.strides.filter((_, i) => base.shape[i] !== 1), shape);
  return strides ? { offset: base.offset, shape, strides, ...data } : { offset: 0, shape, strides: stridesOf(shape), reshapeOf: base, ...data };
}

/** numpy's no-copy reshape: groups old and new axes with equal products, each old group mergeable. */
function restride(oldShape: readonly number[], oldStrides: readonly number[], shape: readonly number[]): number[] | undefined {
  const strides = new Array<number>(shape.length).fill(0);
  let oi = 0;
  let ni = 0;
  while (ni < shape.length) {
    if (shape[ni] === 1) {
      strides[ni] = 1;
      ni++;
      continue;
    }
    if (oi >= oldShape.length) return undefined;
    let op = oldShape[oi]!;
    let np = shape[ni]!;
    const o0 = oi;
    const n0 = ni;
    while (op !== np) {
      if (op < np) op *= oldShape[++oi]!;
      else np *= shape[++ni]!;
      if (oi >= oldShape.length || ni >= shape.length) return undefined;
    }
    for (let k = o0; k < oi; k++) if (oldStrides[k] !== oldStrides[k + 1]! * oldShape[k + 1]!) return undefined;
    let stride = oldStrides[oi]!;
    for (let k = ni; k >= n0; k--) {
      if (shape[k] === 1) {
        strides[k] = 1;
        continue;
      }
      strides[k] = stride;
      stride *= shape[k]!;
    }
    oi++;
    ni++;
  }
  return strides;
}

/** A layout without reshapeOf (the base's order is the tensor's when reshapeOf is set, so it must be copied first). */
function materialized(l: Layout): Layout {
  if (l.reshapeOf) throw new Error('internal: a strided view of a reshaped strided view must be made dense first (CpuProgram does)');
  return l;
}

/**
 * Copies the tensor `l` describes from `src` into `dst` (contiguous, logical order), in runs of its
 * innermost contiguous axis: block copies rather than one element at a time.
 */
export function gatherInto<T extends Float32Array | Int32Array>(owner: T, l: Layout, dst: T): void {
  const src = (l.data ?? owner) as T;
  const base = l.reshapeOf ?? l;
  const rank = base.shape.length;
  if (rank === 0) {
    dst[0] = src[base.offset]!;
    return;
  }
  const inner = base.shape[rank - 1]!;
  const innerStride = base.strides[rank - 1]!;
  const rows = inner === 0 ? 0 : dst.length / inner;
  const counter = new Array<number>(rank).fill(0);
  let from = base.offset;
  for (let r = 0; r < rows; r++) {
    if (innerStride === 1) dst.set(src.subarray(from, from + inner), r * inner);
    else for (let j = 0; j < inner; j++) dst[r * inner + j] = src[from + j * innerStride]!;
    for (let ax = rank - 2; ax >= 0; ax--) {
      counter[ax]!++;
      from += base.strides[ax]!;
      if (counter[ax]! < base.shape[ax]!) break;
      from -= base.strides[ax]! * base.shape[ax]!;
      counter[ax] = 0;
    }
  }
}

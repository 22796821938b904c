import type { DType } from './dtype.ts';
import { InputError } from './errors.ts';

/** Storage precision of floating-point values: the oracle computes in f64, backends in f32. */
export type Precision = 'f64' | 'f32';
export type FloatStorage = Float64Array | Float32Array;
export type Storage = FloatStorage | Int32Array;

/** A concrete, dense, row-major array: what graphs consume and produce at run time. */
export interface NDArray {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Storage;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** The most elements one tensor of the interpreter may hold (2 GiB in float64): a larger shape is a mistake, not a workload. */
export const MAX_TENSOR_ELEMENTS = 2 ** 28;

export function allocStorage(dtype: DType, size: number, precision: Precision): Storage {
  if (!(size <= MAX_TENSOR_ELEMENTS)) {
    throw new InputError(`a tensor of ${size} elements (${((size * (precision === 'f64' && dtype === 'f32' ? 8 : 4)) / 2 ** 30).toFixed(1)} GiB) is more than the ${MAX_TENSOR_ELEMENTS} one tensor may hold; check the shapes`);
  }
  if (dtype === 'i32') return new Int32Array(size);
  return precision === 'f64' ? new Float64Array(size) : new Float32Array(size);
}

export function ndarray(dtype: DType, shape: readonly number[], data: ArrayLike<number>, precision: Precision = 'f32'): NDArray {
  const size = sizeOf(shape);
  if (data.length !== size) throw new RangeError(`ndarray: ${data.length} values for shape [${shape.join(', ')}] (needs ${size})`);
  const storage = allocStorage(dtype, size, precision);
  storage.set(data);
  return { dtype, shape: [...shape], data: storage };
}

/** Converts an array to the given float precision (no copy when it already matches). */
export function withPrecision(a: NDArray, precision: Precision): NDArray {
  if (a.dtype === 'i32') return a;
  const want = precision === 'f64' ? Float64Array : Float32Array;
  if (a.data instanceof want) return a;
  return { dtype: a.dtype, shape: a.shape, data: want.from(a.data) };
}

/** Largest |a - b| over two arrays of the same size (NaN where either holds NaN). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`maxAbsDiff: lengths ${a.length} and ${b.length} differ`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) return NaN;
    if (d > m) m = d;
  }
  return m;
}

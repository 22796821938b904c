import type { DType } from './dtype.ts';
import { formatShape, shapeEquals, type Dim, type Shape } from './shape.ts';

/** The static type of a graph value: element type and (possibly symbolic) shape. */
export interface TensorType {
  readonly dtype: DType;
  readonly shape: readonly Dim[];
}

export function tensorType(dtype: DType, shape: Shape): TensorType {
  return { dtype, shape: [...shape] };
}

export function formatType(t: TensorType): string {
  return `${t.dtype}${formatShape(t.shape)}`;
}

export function typeEquals(a: TensorType, b: TensorType): boolean {
  return a.dtype === b.dtype && shapeEquals(a.shape, b.shape);
}

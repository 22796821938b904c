import { normalizeAxis } from '@loom/graph';

/** What a slice step copies: `count` of x's `dim` entries along `axis`, from `start` (clamped as the reference does), each a run of `inner` elements. */
export interface SliceShape {
  /** Elements of the output. */
  readonly size: number;
  readonly axis: number;
  readonly dim: number;
  readonly start: number;
  readonly count: number;
  readonly inner: number;
}

export function sliceShape(inShape: readonly number[], outShape: readonly number[], attrs: { readonly axis: number; readonly start: number }): SliceShape {
  const product = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);
  const axis = normalizeAxis(attrs.axis, inShape.length)!;
  const dim = inShape[axis]!;
  const start = Math.min(Math.max(attrs.start < 0 ? attrs.start + dim : attrs.start, 0), dim);
  return { size: product(outShape), axis, dim, start, count: outShape[axis]!, inner: product(inShape.slice(axis + 1)) };
}

import { broadcastStrides, stridesOf } from '@loom/graph';
import { sizeOfShape } from '../kernel.ts';
import type { Params } from '../wgsl.ts';

/**
 * How a kernel finds an input element for output position i when the input broadcasts to the
 * output. The kind is part of the WGSL (so the common cases cost no index math); sizes and strides
 * are Params, so the same pipeline serves every size with the same broadcast pattern.
 * - same:    the input has the output's shape: offset i
 * - scalar:  one element: offset 0
 * - suffix:  the input is the output's trailing axes (a bias row): offset i % size
 * - strided: anything else: offset = sum over axes of coordinate * stride (0 on broadcast axes)
 */
export type Access = 'same' | 'scalar' | 'suffix' | 'strided';

export function classifyAccess(shape: readonly number[], outShape: readonly number[]): Access {
  const size = sizeOfShape(shape);
  if (size === sizeOfShape(outShape) && shape.length <= outShape.length && shape.every((d, i) => d === outShape[outShape.length - shape.length + i])) {
    return 'same';
  }
  if (size === 1) return 'scalar';
  const strides = broadcastStrides(shape, outShape);
  const dense = stridesOf(outShape);
  // suffix: leading axes broadcast (stride 0 or extent 1), trailing axes dense like the output
  let j = outShape.length;
  while (j > 0 && (strides[j - 1] === dense[j - 1] || outShape[j - 1] === 1)) j--;
  const leadingBroadcast = strides.slice(0, j).every((s, i) => s === 0 || outShape[i] === 1);
  if (leadingBroadcast && sizeOfShape(outShape.slice(j)) === size) return 'suffix';
  return 'strided';
}

/**
 * Emits `let off{k}: u32` for each input at the linear output index `index` over `outShape`,
 * adding the sizes and strides it needs to `params` (names prefixed by `tag`).
 */
export function renderBroadcastOffsets(
  index: string,
  inputs: readonly { shape: readonly number[]; access: Access }[],
  outShape: readonly number[],
  params: Params,
  tag: string,
): string[] {
  const lines: string[] = [];
  const strided = inputs.map((x, k) => (x.access === 'strided' ? k : -1)).filter((k) => k >= 0);
  if (strided.length > 0) {
    const rank = outShape.length;
    for (let d = 1; d < rank; d++) params.u32(`${tag}shape${d}`, outShape[d]!);
    for (const k of strided) {
      const strides = broadcastStrides(inputs[k]!.shape, outShape);
      for (let d = 0; d < rank; d++) params.u32(`${tag}s${k}_${d}`, strides[d]!);
    }
    lines.push(`var ${tag}rem = ${index};`);
    for (const k of strided) lines.push(`var ${tag}off${k} = 0u;`);
    for (let d = rank - 1; d >= 0; d--) {
      if (d > 0) {
        lines.push(`let ${tag}c${d} = ${tag}rem % p.${tag}shape${d};`);
        lines.push(`${tag}rem = ${tag}rem / p.${tag}shape${d};`);
      } else {
        lines.push(`let ${tag}c0 = ${tag}rem;`);
      }
      for (const k of strided) lines.push(`${tag}off${k} += ${tag}c${d} * p.${tag}s${k}_${d};`);
    }
  }
  inputs.forEach((x, k) => {
    if (x.access === 'same') lines.push(`let ${tag}o${k} = ${index};`);
    else if (x.access === 'scalar') lines.push(`let ${tag}o${k} = 0u;`);
    else if (x.access === 'suffix') {
      params.u32(`${tag}size${k}`, sizeOfShape(x.shape));
      lines.push(`let ${tag}o${k} = ${index} % p.${tag}size${k};`);
    } else lines.push(`let ${tag}o${k} = ${tag}off${k};`);
  });
  return lines;
}

import { normalizeAxis, stridesOf } from '@loom/graph';
import { f32Literal, imod, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';
import { sliceShape } from '../../gpu/slice-shape.ts';

/** Data-movement kernels: transpose, slice, concat, and the `range` source. One fragment per element. */

/**
 * out[i] = x[sum_d coord_d(i) * srcStride_d]. Axes of extent 1 are dropped and neighbouring axes that
 * stay adjacent in the source are merged first, so a head split [B, T, H, Dh] -> [B, H, T, Dh] is
 * rank 3 and a no-op permutation is a plain copy.
 */
export function transposeKernel(ctx: KernelContext<'transpose'>): GlPass[] {
  const x = ctx.inputs[0]!;
  const size = sizeOfShape(ctx.output.shape);
  if (size === 0) return [];
  const inStrides = stridesOf(x.shape);
  const merged: { size: number; stride: number }[] = [];
  for (const src of ctx.attrs.perm) {
    const axis = { size: x.shape[src]!, stride: inStrides[src]! };
    if (axis.size === 1) continue;
    const last = merged[merged.length - 1];
    if (last && last.stride === axis.size * axis.stride) {
      last.size *= axis.size;
      last.stride = axis.stride;
    } else merged.push(axis);
  }
  const body = ['int rem = i;', 'int off = 0;'];
  for (let d = merged.length - 1; d >= 0; d--) {
    const { size: extent, stride } = merged[d]!;
    if (d > 0) body.push(`off += ${imod('rem', extent)} * ${int(stride)};`, `rem = rem / ${int(extent)};`);
    else body.push(`off += rem * ${int(stride)};`);
  }
  body.push(`return ${sample(0, 'off')};`);
  return [{ inputs: [input(0)], size, helpers: [], body, what: 'transpose' }];
}

/** x[..., start:end:step, ...] along one axis, bounds clamped as in the reference. */
export function sliceKernel(ctx: KernelContext<'slice'>): GlPass[] {
  const { size, dim, start, count, inner } = sliceShape(ctx.inputs[0]!.shape, ctx.output.shape, ctx.attrs);
  if (size === 0) return [];
  const body = [
    `int r = ${imod('i', inner)};`,
    `int k = ${imod(`i / ${int(inner)}`, count)};`,
    `int o = i / ${int(inner * count)};`,
    `return ${sample(0, `(o * ${int(dim)} + ${int(start)} + k * ${int(ctx.attrs.step)}) * ${int(inner)} + r`)};`,
  ];
  return [{ inputs: [input(0)], size, helpers: [], body, what: 'slice' }];
}

/** One pass over the output; each element reads the input whose block along the axis holds it. */
export function concatKernel(ctx: KernelContext<'concat'>): GlPass[] {
  const shape = ctx.output.shape;
  const size = sizeOfShape(shape);
  if (size === 0) return [];
  const axis = normalizeAxis(ctx.attrs.axis, shape.length)!;
  const inner = sizeOfShape(shape.slice(axis + 1));
  const outRow = shape[axis]! * inner;
  const parts = ctx.inputs.map((x, k) => ({ k, row: x.shape[axis]! * inner })).filter((p) => p.row > 0 && sizeOfShape(ctx.inputs[p.k]!.shape) > 0);
  const body = [`int o = i / ${int(outRow)};`, `int r = i - o * ${int(outRow)};`];
  let offset = 0;
  parts.forEach((p, slot) => {
    const read = `return ${sample(slot, `o * ${int(p.row)} + r - ${int(offset)}`)};`;
    offset += p.row;
    body.push(slot === parts.length - 1 ? read : `if (r < ${int(offset)}) { ${read} }`);
  });
  return [{ inputs: parts.map((p) => input(p.k)), size, helpers: [], body, what: 'concat' }];
}

/** start, start + step, ... (integers stay exact as floats up to 2^24). */
export function rangeKernel(ctx: KernelContext<'range'>): GlPass[] {
  const size = sizeOfShape(ctx.output.shape);
  if (size === 0) return [];
  const { start, step } = ctx.attrs;
  return [{ inputs: [], size, helpers: [], body: [`return ${f32Literal(start)} + float(i) * ${f32Literal(step)};`], what: 'range' }];
}

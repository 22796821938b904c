import { normalizeAxis, stridesOf } from '@loom/graph';
import { input, OUTPUT, sizeOfShape, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { entryPoint, linearGrid, Params, storageDecl } from '../wgsl.ts';
import { sliceShape } from '../../gpu/slice-shape.ts';

/** Data-movement kernels: transpose, slice, concat, and the `range` source. One thread per element. */

const WORKGROUP = 256;

function copyKernel(ctx: KernelContext, what: string, total: number, body: string[], params: Params, inputIndex: number | undefined): KernelLaunch {
  const dtype = ctx.output.dtype;
  const decls = inputIndex === undefined ? [storageDecl(0, 'out', dtype, 'read_write')] : [storageDecl(0, 'x', dtype, 'read'), storageDecl(1, 'out', dtype, 'read_write')];
  const wgsl = [
    ...decls,
    params.declare(decls.length),
    entryPoint(WORKGROUP),
    `  let i = wg * ${WORKGROUP}u + lid;`,
    '  if (i >= p.n) { return; }',
    ...body.map((l) => `  ${l}`),
    '}',
  ].join('\n');
  return {
    wgsl,
    workgroups: linearGrid(Math.ceil(total / WORKGROUP), ctx.limits, what),
    bindings: inputIndex === undefined ? [{ buffer: OUTPUT }] : [{ buffer: input(inputIndex) }, { buffer: OUTPUT }],
    params: params.data(),
  };
}

/**
 * out[i] = x[sum_d coord_d(i) * srcStride_d]. Axes of extent 1 are dropped and neighbouring axes that
 * stay adjacent in the source are merged first, so a head split [B, T, H, Dh] -> [B, H, T, Dh] is
 * rank 4 and a no-op permutation is a plain copy.
 */
export function transposeKernel(ctx: KernelContext<'transpose'>): KernelLaunch[] {
  const x = ctx.inputs[0]!;
  const total = sizeOfShape(ctx.output.shape);
  if (total === 0) return [];
  const inStrides = stridesOf(x.shape);
  let axes = ctx.attrs.perm.map((src) => ({ size: x.shape[src]!, stride: inStrides[src]! })).filter((a) => a.size !== 1);
  const merged: { size: number; stride: number }[] = [];
  for (const a of axes) {
    const last = merged[merged.length - 1];
    if (last && last.stride === a.size * a.stride) {
      last.size *= a.size;
      last.stride = a.stride;
    } else merged.push({ ...a });
  }
  axes = merged.length > 0 ? merged : [{ size: 1, stride: 1 }];
  const params = new Params().u32('n', total);
  const body = ['var rem = i;', 'var off = 0u;'];
  for (let d = axes.length - 1; d >= 0; d--) {
    params.u32(`stride${d}`, axes[d]!.stride);
    if (d > 0) {
      params.u32(`size${d}`, axes[d]!.size);
      body.push(`off += (rem % p.size${d}) * p.stride${d};`, `rem = rem / p.size${d};`);
    } else body.push('off += rem * p.stride0;');
  }
  body.push('out[i] = x[off];');
  return [copyKernel(ctx, 'transpose', total, body, params, 0)];
}

/** x[..., start:end:step, ...] along one axis, bounds clamped as in the reference. */
export function sliceKernel(ctx: KernelContext<'slice'>): KernelLaunch[] {
  const { size: total, dim, start, count: n, inner } = sliceShape(ctx.inputs[0]!.shape, ctx.output.shape, ctx.attrs);
  if (total === 0) return [];
  const params = new Params().u32('n', total).u32('count', n).u32('inner', inner).u32('dim', dim).u32('start', start).u32('step', ctx.attrs.step);
  const body = [
    'let r = i % p.inner;',
    'let k = (i / p.inner) % p.count;',
    'let o = i / (p.inner * p.count);',
    'out[i] = x[(o * p.dim + p.start + k * p.step) * p.inner + r];',
  ];
  return [copyKernel(ctx, 'slice', total, body, params, 0)];
}

/** One launch per input, each copying its block into place along the axis. */
export function concatKernel(ctx: KernelContext<'concat'>): KernelLaunch[] {
  const shape = ctx.output.shape;
  const axis = normalizeAxis(ctx.attrs.axis, shape.length)!;
  const inner = sizeOfShape(shape.slice(axis + 1));
  const outRow = shape[axis]! * inner;
  const launches: KernelLaunch[] = [];
  let offset = 0;
  ctx.inputs.forEach((x, k) => {
    const row = x.shape[axis]! * inner;
    const total = sizeOfShape(x.shape);
    if (total > 0) {
      const params = new Params().u32('n', total).u32('row', row).u32('out_row', outRow).u32('offset', offset);
      launches.push(copyKernel(ctx, 'concat', total, ['out[(i / p.row) * p.out_row + p.offset + i % p.row] = x[i];'], params, k));
    }
    offset += row;
  });
  return launches;
}

/** start, start + step, ... computed in the output's dtype. */
export function rangeKernel(ctx: KernelContext<'range'>): KernelLaunch[] {
  const total = sizeOfShape(ctx.output.shape);
  if (total === 0) return [];
  const dtype = ctx.output.dtype;
  const params = new Params().u32('n', total);
  if (dtype === 'f32') params.f32('start', ctx.attrs.start).f32('step', ctx.attrs.step);
  else params.i32('start', ctx.attrs.start).i32('step', ctx.attrs.step);
  return [copyKernel(ctx, 'range', total, [`out[i] = p.start + ${dtype}(i) * p.step;`], params, undefined)];
}

import { normalizeAxis } from '@loom/graph';
import { input, OUTPUT, sizeOfShape, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { entryPoint, linearGrid, Params, rowWorkgroupSize, storageDecl } from '../wgsl.ts';
import { rowMaxAndSumExp, workgroupScratch } from './reduce-helpers.ts';

/**
 * Numerically stable softmax along any axis: one workgroup per row (a row is the `n` elements along
 * the axis, `inner` apart), three sweeps: max, sum of exp(x - max), normalize.
 */
export function softmaxKernel(ctx: KernelContext<'softmax'>): KernelLaunch[] {
  const shape = ctx.output.shape;
  const axis = normalizeAxis(ctx.attrs.axis, shape.length)!;
  const n = shape[axis]!;
  const inner = sizeOfShape(shape.slice(axis + 1));
  const rows = sizeOfShape(shape) / Math.max(n, 1);
  if (sizeOfShape(shape) === 0) return [];
  const wg = rowWorkgroupSize(n, ctx.limits);
  const params = new Params().u32('rows', rows).u32('n', n).u32('inner', inner);
  const wgsl = [
    storageDecl(0, 'x', 'f32', 'read'),
    storageDecl(1, 'out', 'f32', 'read_write'),
    params.declare(2),
    workgroupScratch('scratch', 'f32', wg),
    entryPoint(wg),
    '  let row = wg;',
    '  if (row >= p.rows) { return; }',
    '  let base = (row / p.inner) * p.n * p.inner + row % p.inner;',
    ...rowMaxAndSumExp('scratch', wg, 'p.n', (k) => `x[base + ${k} * p.inner]`),
    '  let inv = 1.0 / row_sum;',
    `  for (var k = lid; k < p.n; k += ${wg}u) { out[base + k * p.inner] = exp(x[base + k * p.inner] - row_max) * inv; }`,
    '}',
  ].join('\n');
  return [{ wgsl, workgroups: linearGrid(rows, ctx.limits, 'softmax'), bindings: [{ buffer: input(0) }, { buffer: OUTPUT }], params: params.data() }];
}

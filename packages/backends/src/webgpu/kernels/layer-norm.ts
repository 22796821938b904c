import { input, OUTPUT, sizeOfShape, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { entryPoint, f32Literal, linearGrid, Params, rowWorkgroupSize, storageDecl } from '../wgsl.ts';
import { workgroupReduce, workgroupScratch } from './reduce-helpers.ts';

/**
 * Layer norm over the last axis, one workgroup per row, two-pass (mean, then the variance of the
 * centred values) like the reference. With `residual`, normalizes x + residual (fused_add_layer_norm)
 * without storing the sum.
 */
function renderLayerNorm(ctx: KernelContext, eps: number, withResidual: boolean): KernelLaunch[] {
  const shape = ctx.output.shape;
  const d = shape[shape.length - 1]!;
  const total = sizeOfShape(shape);
  if (total === 0) return [];
  const rows = total / d;
  const wg = rowWorkgroupSize(d, ctx.limits);
  const params = new Params().u32('rows', rows).u32('d', d);
  const names = withResidual ? ['x', 'residual', 'gamma', 'beta'] : ['x', 'gamma', 'beta'];
  const value = (index: string) => (withResidual ? `(x[${index}] + residual[${index}])` : `x[${index}]`);
  const wgsl = [
    ...names.map((name, k) => storageDecl(k, name, 'f32', 'read')),
    storageDecl(names.length, 'out', 'f32', 'read_write'),
    params.declare(names.length + 1),
    workgroupScratch('scratch', 'f32', wg),
    entryPoint(wg),
    '  let row = wg;',
    '  if (row >= p.rows) { return; }',
    '  let base = row * p.d;',
    '  var s = 0.0;',
    `  for (var k = lid; k < p.d; k += ${wg}u) { s += ${value('base + k')}; }`,
    ...workgroupReduce('scratch', wg, 's', 'sum', (a, b) => `${a} + ${b}`).map((l) => `  ${l}`),
    '  let mean = sum / f32(p.d);',
    '  var q = 0.0;',
    `  for (var k = lid; k < p.d; k += ${wg}u) { let c = ${value('base + k')} - mean; q += c * c; }`,
    ...workgroupReduce('scratch', wg, 'q', 'sq', (a, b) => `${a} + ${b}`).map((l) => `  ${l}`),
    `  let inv = inverseSqrt(sq / f32(p.d) + ${f32Literal(eps)});`,
    `  for (var k = lid; k < p.d; k += ${wg}u) { out[base + k] = (${value('base + k')} - mean) * inv * gamma[k] + beta[k]; }`,
    '}',
  ].join('\n');
  return [
    {
      wgsl,
      workgroups: linearGrid(rows, ctx.limits, ctx.node.op),
      bindings: [...names.map((_, k) => ({ buffer: input(k) })), { buffer: OUTPUT }],
      params: params.data(),
    },
  ];
}

export const layerNormKernel = (ctx: KernelContext<'layer_norm'>): KernelLaunch[] => renderLayerNorm(ctx, ctx.attrs.eps, false);
export const fusedAddLayerNormKernel = (ctx: KernelContext<'fused_add_layer_norm'>): KernelLaunch[] => renderLayerNorm(ctx, ctx.attrs.eps, true);

/**
 * RMSNorm over the last axis, one workgroup per row: the sum of squares, then v * inv * (weight +
 * offset), with v = x or x + residual (fused_add_rms_norm, the sum never stored).
 */
function renderRmsNorm(ctx: KernelContext, eps: number, weightOffset: number, withResidual: boolean): KernelLaunch[] {
  const shape = ctx.output.shape;
  const d = shape[shape.length - 1]!;
  const total = sizeOfShape(shape);
  if (total === 0) return [];
  const rows = total / d;
  const wg = rowWorkgroupSize(d, ctx.limits);
  const params = new Params().u32('rows', rows).u32('d', d);
  const names = withResidual ? ['x', 'residual', 'weight'] : ['x', 'weight'];
  const value = (index: string) => (withResidual ? `(x[${index}] + residual[${index}])` : `x[${index}]`);
  const wgsl = [
    ...names.map((name, i) => storageDecl(i, name, 'f32', 'read')),
    storageDecl(names.length, 'out', 'f32', 'read_write'),
    params.declare(names.length + 1),
    workgroupScratch('scratch', 'f32', wg),
    entryPoint(wg),
    '  let row = wg;',
    '  if (row >= p.rows) { return; }',
    '  let base = row * p.d;',
    '  var q = 0.0;',
    `  for (var k = lid; k < p.d; k += ${wg}u) { let v = ${value('base + k')}; q += v * v; }`,
    ...workgroupReduce('scratch', wg, 'q', 'sq', (a, b) => `${a} + ${b}`).map((l) => `  ${l}`),
    `  let inv = inverseSqrt(sq / f32(p.d) + ${f32Literal(eps)});`,
    `  for (var k = lid; k < p.d; k += ${wg}u) { out[base + k] = ${value('base + k')} * inv * (weight[k] + ${f32Literal(weightOffset)}); }`,
    '}',
  ].join('\n');
  const bindings = [...names.map((_, i) => ({ buffer: input(i) })), { buffer: OUTPUT }];
  return [{ wgsl, workgroups: linearGrid(rows, ctx.limits, ctx.node.op), bindings, params: params.data() }];
}

export const rmsNormKernel = (ctx: KernelContext<'rms_norm'>): KernelLaunch[] => renderRmsNorm(ctx, ctx.attrs.eps, ctx.attrs.weightOffset, false);
export const fusedAddRmsNormKernel = (ctx: KernelContext<'fused_add_rms_norm'>): KernelLaunch[] => renderRmsNorm(ctx, ctx.attrs.eps, ctx.attrs.weightOffset, true);

import { input, OUTPUT, sizeOfShape, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { entryPoint, f32Literal, linearGrid, Params, rowWorkgroupSize, storageDecl } from '../wgsl.ts';
import { workgroupReduce, workgroupScratch } from './reduce-helpers.ts';

/** A row's value at `index`: x, or x + residual for the fused residual forms (the sum never stored). */
type RowValue = (index: string) => string;

/**
 * One workgroup per row of the last axis (`wg` invocations, the row starting at `base`), reading
 * x (and residual) and then `params` (gamma / beta / weight): the frame both norms share. `body`
 * gives the row's statements, given how to read a value of x.
 */
function rowKernel(ctx: KernelContext, params: readonly string[], withResidual: boolean, body: (value: RowValue, wg: number) => string[]): KernelLaunch[] {
  const shape = ctx.output.shape;
  const d = shape[shape.length - 1]!;
  const total = sizeOfShape(shape);
  if (total === 0) return [];
  const rows = total / d;
  const wg = rowWorkgroupSize(d, ctx.limits);
  const uniforms = new Params().u32('rows', rows).u32('d', d);
  const names = [...(withResidual ? ['x', 'residual'] : ['x']), ...params];
  const value: RowValue = (index) => (withResidual ? `(x[${index}] + residual[${index}])` : `x[${index}]`);
  const wgsl = [
    ...names.map((name, k) => storageDecl(k, name, 'f32', 'read')),
    storageDecl(names.length, 'out', 'f32', 'read_write'),
    uniforms.declare(names.length + 1),
    workgroupScratch('scratch', 'f32', wg),
    entryPoint(wg),
    '  let row = wg;',
    '  if (row >= p.rows) { return; }',
    '  let base = row * p.d;',
    ...body(value, wg),
    '}',
  ].join('\n');
  const bindings = [...names.map((_, k) => ({ buffer: input(k) })), { buffer: OUTPUT }];
  return [{ wgsl, workgroups: linearGrid(rows, ctx.limits, ctx.node.op), bindings, params: uniforms.data() }];
}

const sumOf = (wg: number, local: string, total: string) => workgroupReduce('scratch', wg, local, total, (a, b) => `${a} + ${b}`).map((l) => `  ${l}`);

/**
 * Layer norm over the last axis, two-pass (mean, then the variance of the centred values) like the
 * reference. With `residual`, normalizes x + residual (fused_add_layer_norm).
 */
function renderLayerNorm(ctx: KernelContext, eps: number, withResidual: boolean): KernelLaunch[] {
  return rowKernel(ctx, ['gamma', 'beta'], withResidual, (value, wg) => [
    '  var s = 0.0;',
    `  for (var k = lid; k < p.d; k += ${wg}u) { s += ${value('base + k')}; }`,
    ...sumOf(wg, 's', 'sum'),
    '  let mean = sum / f32(p.d);',
    '  var q = 0.0;',
    `  for (var k = lid; k < p.d; k += ${wg}u) { let c = ${value('base + k')} - mean; q += c * c; }`,
    ...sumOf(wg, 'q', 'sq'),
    `  let inv = inverseSqrt(sq / f32(p.d) + ${f32Literal(eps)});`,
    `  for (var k = lid; k < p.d; k += ${wg}u) { out[base + k] = (${value('base + k')} - mean) * inv * gamma[k] + beta[k]; }`,
  ]);
}

export const layerNormKernel = (ctx: KernelContext<'layer_norm'>): KernelLaunch[] => renderLayerNorm(ctx, ctx.attrs.eps, false);
export const fusedAddLayerNormKernel = (ctx: KernelContext<'fused_add_layer_norm'>): KernelLaunch[] => renderLayerNorm(ctx, ctx.attrs.eps, true);

/** RMSNorm over the last axis: the sum of squares, then v * inv * (weight + offset); with `residual`, of x + residual (fused_add_rms_norm). */
function renderRmsNorm(ctx: KernelContext, eps: number, weightOffset: number, withResidual: boolean): KernelLaunch[] {
  return rowKernel(ctx, ['weight'], withResidual, (value, wg) => [
    '  var q = 0.0;',
    `  for (var k = lid; k < p.d; k += ${wg}u) { let v = ${value('base + k')}; q += v * v; }`,
    ...sumOf(wg, 'q', 'sq'),
    `  let inv = inverseSqrt(sq / f32(p.d) + ${f32Literal(eps)});`,
    `  for (var k = lid; k < p.d; k += ${wg}u) { out[base + k] = ${value('base + k')} * inv * (weight[k] + ${f32Literal(weightOffset)}); }`,
  ]);
}

export const rmsNormKernel = (ctx: KernelContext<'rms_norm'>): KernelLaunch[] => renderRmsNorm(ctx, ctx.attrs.eps, ctx.attrs.weightOffset, false);
export const fusedAddRmsNormKernel = (ctx: KernelContext<'fused_add_rms_norm'>): KernelLaunch[] => renderRmsNorm(ctx, ctx.attrs.eps, ctx.attrs.weightOffset, true);

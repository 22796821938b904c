import { f32Literal, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';
import { loopCost } from '../loops.ts';
import { PassList, reduce, SUM } from '../reduction.ts';

/**
 * What both norms share: the rows of the last axis (d wide), the tensors read (x, and residual for
 * the fused residual forms, then the norm's parameters from slot `g`), and a row value at an index:
 * x, or x + residual without storing the sum. Undefined for an empty output.
 */
function rowFrame(ctx: KernelContext, withResidual: boolean) {
  const shape = ctx.output.shape;
  const size = sizeOfShape(shape);
  if (size === 0) return undefined;
  const d = shape[shape.length - 1]!;
  const tensors = withResidual ? [input(0), input(1)] : [input(0)];
  const value = (index: string) => (withResidual ? `(${sample(0, index)} + ${sample(1, index)})` : sample(0, index));
  return { size, d, rows: size / d, tensors, g: tensors.length, value };
}

/**
 * Layer norm over the last axis in two passes: per row the mean and 1 / sqrt(variance + eps) (the
 * variance of the centred values, as the reference computes it), then every element normalized.
 * With `residual`, normalizes x + residual (fused_add_layer_norm) without storing the sum. A row
 * wider than one fragment may walk twice gets the mean and then the scale as chunked sums
 * (reduction.ts), each in a texture of its own.
 */
function renderLayerNorm(ctx: KernelContext, eps: number, withResidual: boolean): GlPass[] {
  const frame = rowFrame(ctx, withResidual);
  if (!frame) return [];
  const { size, d, rows, tensors, g, value } = frame;
  const budget = ctx.limits.maxLoopIterations;
  const normalize = (mean: string, scale: string) => [
    `int row = i / ${int(d)};`,
    `int k = i - row * ${int(d)};`,
    `return (${value('i')} - ${mean}) * ${scale} * ${sample(g, 'k')} + ${sample(g + 1, 'k')};`,
  ];
  const list = new PassList();
  if (2 * loopCost(d) <= budget) {
    const stats = [
      'int row = i / 2;',
      `int base = row * ${int(d)};`,
      'float s = 0.0;',
      `for (int k = 0; k < ${int(d)}; k++) { s += ${value('base + k')}; }`,
      `float mean = s / ${f32Literal(d)};`,
      'if (i - row * 2 == 0) { return mean; }',
      'float q = 0.0;',
      `for (int k = 0; k < ${int(d)}; k++) { float c = ${value('base + k')} - mean; q += c * c; }`,
      `return inversesqrt(q / ${f32Literal(d)} + ${f32Literal(eps)});`,
    ];
    const moments = list.add({ inputs: tensors, size: rows * 2, helpers: [], body: stats, what: `${ctx.node.op} row mean and scale` });
    list.add({ inputs: [...tensors, input(g), input(g + 1), moments], size, helpers: [], body: normalize(sample(g + 2, 'row * 2'), sample(g + 2, 'row * 2 + 1')), what: `${ctx.node.op} normalize` });
    return list.passes;
  }
  const setup = [`int base = row * ${int(d)};`];
  const mean = reduce(
    list,
    { what: `${ctx.node.op} row mean`, rows, count: d, inputs: tensors, setup, term: (j) => value(`base + ${j}`), fold: SUM, finish: () => [`return acc / ${f32Literal(d)};`] },
    budget,
  );
  const scale = reduce(
    list,
    {
      what: `${ctx.node.op} row scale`,
      rows,
      count: d,
      inputs: [...tensors, mean],
      setup: [...setup, `float mean = ${sample(g, 'row')};`],
      term: (j) => ({ lines: [`float c = ${value(`base + ${j}`)} - mean;`], value: 'c * c' }),
      fold: SUM,
      finish: () => [`return inversesqrt(acc / ${f32Literal(d)} + ${f32Literal(eps)});`],
    },
    budget,
  );
  list.add({ inputs: [...tensors, input(g), input(g + 1), mean, scale], size, helpers: [], body: normalize(sample(g + 2, 'row'), sample(g + 3, 'row')), what: `${ctx.node.op} normalize` });
  return list.passes;
}

export const layerNormKernel = (ctx: KernelContext<'layer_norm'>): GlPass[] => renderLayerNorm(ctx, ctx.attrs.eps, false);
export const fusedAddLayerNormKernel = (ctx: KernelContext<'fused_add_layer_norm'>): GlPass[] => renderLayerNorm(ctx, ctx.attrs.eps, true);

/**
 * RMSNorm over the last axis in two passes: per row 1 / sqrt(mean(v^2) + eps) (a chunked sum for
 * a row wider than one fragment may walk), then v * that * (weight + offset), with v = x or
 * x + residual (fused_add_rms_norm, the sum never stored).
 */
function renderRmsNorm(ctx: KernelContext, eps: number, weightOffset: number, withResidual: boolean): GlPass[] {
  const frame = rowFrame(ctx, withResidual);
  if (!frame) return [];
  const { size, d, rows, tensors, g, value } = frame;
  const list = new PassList();
  const scale = reduce(
    list,
    {
      what: `${ctx.node.op} row scale`,
      rows,
      count: d,
      inputs: tensors,
      setup: [`int base = row * ${int(d)};`],
      term: (j) => ({ lines: [`float v = ${value(`base + ${j}`)};`], value: 'v * v' }),
      fold: SUM,
      finish: () => [`return inversesqrt(acc / ${f32Literal(d)} + ${f32Literal(eps)});`],
    },
    ctx.limits.maxLoopIterations,
  );
  const normalize = [
    `int row = i / ${int(d)};`,
    `int k = i - row * ${int(d)};`,
    `return ${value('i')} * ${sample(g + 1, 'row')} * (${sample(g, 'k')} + ${f32Literal(weightOffset)});`,
  ];
  list.add({ inputs: [...tensors, input(g), scale], size, helpers: [], body: normalize, what: `${ctx.node.op} normalize` });
  return list.passes;
}

export const rmsNormKernel = (ctx: KernelContext<'rms_norm'>): GlPass[] => renderRmsNorm(ctx, ctx.attrs.eps, ctx.attrs.weightOffset, false);
export const fusedAddRmsNormKernel = (ctx: KernelContext<'fused_add_rms_norm'>): GlPass[] => renderRmsNorm(ctx, ctx.attrs.eps, ctx.attrs.weightOffset, true);

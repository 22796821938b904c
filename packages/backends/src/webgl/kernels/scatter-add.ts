import { f32Literal, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';
import { scatterAddSizes } from '../../training-kernels.ts';
import { indexStatusPass } from './index-status.ts';

/**
 * out[r, j] = sum of updates[k, j] over the positions k whose index is r: one fragment per output
 * element walks every position in order (the reference's order, no blending), so the result is
 * reproducible. Indices are integers held in floats; one outside the table adds nothing here and is
 * reported by the status pass.
 */
export function scatterAddKernel(ctx: KernelContext<'scatter_add'>): GlPass[] {
  const { positions, width, rows } = scatterAddSizes(ctx.inputs[0]!.shape, ctx.inputs[1]!.shape, ctx.output.shape);
  const size = sizeOfShape(ctx.output.shape);
  const status = indexStatusPass(input(0), positions, (v) => `${v} < 0.0 || ${v} >= ${f32Literal(rows)}`, 'scatter_add');
  if (size === 0) return status; // an empty table: every index is outside it
  const body = [
    `int row = i / ${int(width)};`,
    `int column = i - row * ${int(width)};`,
    'float r = float(row);',
    'float sum = 0.0;',
    `for (int k = 0; k < ${int(positions)}; k++) {`,
    `  if (${sample(0, 'k')} == r) { sum += ${sample(1, `k * ${int(width)} + column`)}; }`,
    '}',
    'return sum;',
  ];
  return [...status, { inputs: [input(0), input(1)], size, helpers: [], body, what: 'scatter_add' }];
}

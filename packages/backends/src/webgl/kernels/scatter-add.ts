import { f32Literal, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';
import { PassList, reduce, SUM } from '../reduction.ts';
import { scatterAddSizes } from '../../training-kernels.ts';
import { indexStatusPass } from './index-status.ts';

/**
 * out[r, j] = sum of updates[k, j] over the positions k whose index is r: one fragment per output
 * element walks every position in order (the reference's order, no blending), so the result is
 * reproducible; more positions than one fragment may walk are summed in chunks (reduction.ts), each
 * in order, then the chunks in order. Indices are integers held in floats; one outside the table
 * adds nothing here and is reported by the status pass.
 */
export function scatterAddKernel(ctx: KernelContext<'scatter_add'>): GlPass[] {
  const { positions, width, rows } = scatterAddSizes(ctx.inputs[0]!.shape, ctx.inputs[1]!.shape, ctx.output.shape);
  const size = sizeOfShape(ctx.output.shape);
  const budget = ctx.limits.maxLoopIterations;
  const list = new PassList();
  indexStatusPass(list, input(0), positions, (v) => `${v} < 0.0 || ${v} >= ${f32Literal(rows)}`, 'scatter_add', budget);
  if (size === 0) return list.passes; // an empty table: every index is outside it
  const setup = [`int tableRow = row / ${int(width)};`, `int column = row - tableRow * ${int(width)};`, 'float r = float(tableRow);'];
  // an update whose index is not r is read but selected away: adding 0.0 leaves the sum's bits as they were
  const term = (j: string) => `(${sample(0, j)} == r ? ${sample(1, `${j} * ${int(width)} + column`)} : 0.0)`;
  reduce(list, { what: 'scatter_add', rows: size, count: positions, inputs: [input(0), input(1)], setup, term, fold: SUM }, budget);
  return list.passes;
}

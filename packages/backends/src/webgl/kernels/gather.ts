import { f32Literal, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';

/**
 * out[i, ...] = table[ids[i], ...]. Ids are integers held in floats; an id outside the table reads
 * zeros (ids that come from a graph input are checked on the host before the run, with an error
 * naming the input, the position and the table).
 */
export function gatherKernel(ctx: KernelContext<'gather'>): GlPass[] {
  const table = ctx.inputs[0]!;
  const size = sizeOfShape(ctx.output.shape);
  if (size === 0) return [];
  const rows = table.shape[0]!;
  const width = sizeOfShape(table.shape.slice(1));
  const body = [
    `int position = i / ${int(width)};`,
    `int column = i - position * ${int(width)};`,
    `float id = ${sample(1, 'position')};`,
    `if (id < 0.0 || id >= ${f32Literal(rows)}) { return 0.0; }`,
    `return ${sample(0, `int(id) * ${int(width)} + column`)};`,
  ];
  return [{ inputs: [input(0), input(1)], size, helpers: [], body, what: 'gather' }];
}

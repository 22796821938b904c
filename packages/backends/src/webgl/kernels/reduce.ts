import { f32Literal, imod, int } from '../glsl.ts';
import { input, sample, type GlPass, type KernelContext } from '../kernel.ts';
import { MAX, PassList, reduce, SUM } from '../reduction.ts';
import { reductionShape, type AxisGroup } from '../../reduce-groups.ts';

type ReduceOp = 'reduce_sum' | 'reduce_mean' | 'reduce_max';

/** GLSL: the input offset of the coordinates of `index` over `groups` (row-major), as a sum. */
function groupOffset(index: string, groups: readonly AxisGroup[], tag: string, lines: string[]): string {
  if (groups.length === 0) return '0';
  lines.push(`int ${tag}rem = ${index};`);
  const terms: string[] = [];
  for (let g = groups.length - 1; g >= 0; g--) {
    const { size, stride } = groups[g]!;
    const coordinate = g > 0 ? imod(`${tag}rem`, size) : `${tag}rem`;
    lines.push(`int ${tag}c${g} = ${coordinate};`);
    if (g > 0) lines.push(`${tag}rem = ${tag}rem / ${int(size)};`);
    terms.push(stride === 1 ? `${tag}c${g}` : `${tag}c${g} * ${int(stride)}`);
  }
  return terms.join(' + ');
}

/**
 * reduce_sum / reduce_mean / reduce_max over any set of axes: one fragment per output walks its
 * elements, or, past the loop budget, per chunk of them, with a pass folding the chunks (reduction.ts).
 */
export function reduceKernel(ctx: KernelContext<ReduceOp>): GlPass[] {
  const op = ctx.node.op as ReduceOp;
  const x = ctx.inputs[0]!;
  const { outputs, count, kept, summed } = reductionShape(x.shape, ctx.attrs.axes);
  if (outputs === 0) return [];
  const setup: string[] = [];
  setup.push(`int base = ${groupOffset('row', kept, 'k', setup)};`);
  const term = (j: string) => {
    const lines: string[] = [];
    const offset = groupOffset(j, summed, 'r', lines);
    return { lines, value: sample(0, `base + ${offset}`) };
  };
  const list = new PassList();
  const finish = op === 'reduce_mean' ? () => [`return acc / ${f32Literal(count)};`] : undefined;
  reduce(list, { what: op, rows: outputs, count, inputs: [input(0)], setup, term, fold: op === 'reduce_max' ? MAX : SUM, ...(finish ? { finish } : {}) }, ctx.limits.maxLoopIterations);
  return list.passes;
}

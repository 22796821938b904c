import { normalizeAxis } from '@loom/graph';
import { f32Literal, imod, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';
import { collapseReduction, type AxisGroup } from '../../reduce-groups.ts';

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

/** reduce_sum / reduce_mean / reduce_max over any set of axes: one fragment per output walks its elements. */
export function reduceKernel(ctx: KernelContext<ReduceOp>): GlPass[] {
  const op = ctx.node.op as ReduceOp;
  const x = ctx.inputs[0]!;
  const outputs = sizeOfShape(ctx.output.shape);
  if (outputs === 0) return [];
  const axes = new Set(ctx.attrs.axes.map((a) => normalizeAxis(a, x.shape.length)!));
  const count = sizeOfShape(x.shape.filter((_, i) => axes.has(i)));
  const { kept, summed } = collapseReduction(x.shape, axes);
  const body: string[] = [];
  const keptOffset = groupOffset('i', kept, 'k', body);
  body.push(`int base = ${keptOffset};`);
  const loop: string[] = [];
  const summedOffset = groupOffset('r', summed, 'r', loop);
  const first = count > 0 ? sample(0, 'base') : '0.0';
  body.push(`float acc = ${op === 'reduce_max' ? first : '0.0'};`);
  body.push(`for (int r = 0; r < ${int(count)}; r++) {`, ...loop.map((l) => `  ${l}`));
  body.push(`  float v = ${sample(0, `base + ${summedOffset}`)};`);
  body.push(op === 'reduce_max' ? '  acc = max(acc, v);' : '  acc += v;', '}');
  body.push(op === 'reduce_mean' ? `return acc / ${f32Literal(count)};` : 'return acc;');
  return [{ inputs: [input(0)], size: outputs, helpers: [], body, what: op }];
}

import { normalizeAxis } from '@loom/graph';
import { imod, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';
import { maxAndSumExp, PassList } from '../reduction.ts';

/**
 * Numerically stable softmax along any axis: per row (the n elements along the axis, `inner`
 * apart) the maximum and the sum of exp(x - max), then every element normalized. A row longer than
 * one fragment may walk (a vocabulary of 50257) is summed in chunks, folded by the log-sum-exp rule
 * (reduction.ts).
 */
export function softmaxKernel(ctx: KernelContext<'softmax'>): GlPass[] {
  const shape = ctx.output.shape;
  const size = sizeOfShape(shape);
  if (size === 0) return [];
  const axis = normalizeAxis(ctx.attrs.axis, shape.length)!;
  const n = shape[axis]!;
  const inner = sizeOfShape(shape.slice(axis + 1));
  const rows = size / n;
  // element k of row r is at (r / inner) * n * inner + r % inner + k * inner
  const rowBase = (r: string) => `(${r} / ${int(inner)}) * ${int(n * inner)} + ${imod(r, inner)}`;
  const list = new PassList();
  const stats = maxAndSumExp(
    list,
    { what: 'softmax row max and sum', rows, count: n, inputs: [input(0)], setup: [`int base = ${rowBase('row')};`], value: (k) => sample(0, `base + ${k} * ${int(inner)}`) },
    ctx.limits.maxLoopIterations,
  );
  const normalize = [
    `int o = i / ${int(n * inner)};`,
    `int r = ${imod('i', inner)};`,
    `int row = o * ${int(inner)} + r;`,
    `return exp(${sample(0, 'i')} - ${sample(1, 'row * 2')}) / ${sample(1, 'row * 2 + 1')};`,
  ];
  list.add({ inputs: [input(0), stats], size, helpers: [], body: normalize, what: 'softmax normalize' });
  return list.passes;
}

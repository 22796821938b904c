import { normalizeAxis } from '@loom/graph';
import { imod, int } from '../glsl.ts';
import { input, pass, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';

/**
 * Numerically stable softmax along any axis, in two passes: per row (the n elements along the axis,
 * `inner` apart) the maximum and the sum of exp(x - max), then every element normalized.
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
  const at = (k: string) => sample(0, `base + ${k} * ${int(inner)}`);
  const stats = [
    'int row = i / 2;',
    `int base = ${rowBase('row')};`,
    `float m = ${at('0')};`,
    `for (int k = 1; k < ${int(n)}; k++) { m = max(m, ${at('k')}); }`,
    'if (i - row * 2 == 0) { return m; }',
    'float s = 0.0;',
    `for (int k = 0; k < ${int(n)}; k++) { s += exp(${at('k')} - m); }`,
    'return s;',
  ];
  const normalize = [
    `int o = i / ${int(n * inner)};`,
    `int r = ${imod('i', inner)};`,
    `int row = o * ${int(inner)} + r;`,
    `return exp(${sample(0, 'i')} - ${sample(1, 'row * 2')}) / ${sample(1, 'row * 2 + 1')};`,
  ];
  return [
    { inputs: [input(0)], size: rows * 2, helpers: [], body: stats, what: 'softmax row max and sum' },
    { inputs: [input(0), pass(0)], size, helpers: [], body: normalize, what: 'softmax normalize' },
  ];
}

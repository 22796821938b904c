import { imod, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';

/**
 * x rounded to int8 per group along the last axis, one fragment per value: its group's largest
 * magnitude (a loop of `group`), then the value against the group's scale, rounded half to even as
 * the reference rounds (GLSL ES 1.00 has only floor). GLSL's division may be an ulp off float32's,
 * so a value a hair from a half may round the other way (one step of the scale: the op's tolerance).
 */
export function quantizeActivationsKernel(ctx: KernelContext<'quantize_activations'>): GlPass[] {
  const size = sizeOfShape(ctx.output.shape);
  if (size === 0) return [];
  const shape = ctx.inputs[0]!.shape;
  const k = shape[shape.length - 1]!;
  const group = Math.min(ctx.attrs.group, k);
  const body = [
    `int col = ${imod('i', k)};`,
    `int first = i - col + (col / ${int(group)}) * ${int(group)};`,
    `int last = i - col + ${int(k)};`,
    'float m = 0.0;',
    `for (int j = 0; j < ${int(group)}; j++) {`,
    '  if (first + j < last) { m = max(m, abs(' + sample(0, 'first + j') + ')); }',
    '}',
    'if (m == 0.0) { return 0.0; }',
    'float s = m / 127.0;',
    `float q = ${sample(0, 'i')} / s;`,
    'float r = floor(q + 0.5);',
    'if (r - q == 0.5 && mod(r, 2.0) == 1.0) { r -= 1.0; }',
    'return s * clamp(r, -127.0, 127.0);',
  ];
  return [{ inputs: [input(0)], size, helpers: [], body, what: 'quantize_activations' }];
}

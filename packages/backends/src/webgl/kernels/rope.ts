import { GLSL } from '../../expr/languages/glsl.ts';
import { f32Literal, imod, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';
import { ropeShape } from '../../gpu/rope-shape.ts';

/**
 * rope on x[B, T, H, Dh], one fragment per element: it reads its own value and its pair partner
 * (halves: j +- R/2; interleaved: j +- 1) and rotates by float32(position) * frequency. GLSL ES 1.00
 * has no constant arrays, so the frequencies are a generated lookup (one branch per pair).
 */
export function ropeKernel(ctx: KernelContext<'rope'>): GlPass[] {
  const [x, offset] = ctx.inputs;
  const { t, heads, dh, size, rotary, half, freq } = ropeShape(x!.shape, ctx.attrs);
  if (size === 0) return [];
  const lookup = [
    'float loom_rope_freq(int j) {',
    ...freq.slice(0, -1).map((f, j) => `  if (j == ${j}) return ${f32Literal(f)};`),
    `  return ${f32Literal(freq[freq.length - 1]!)};`,
    '}',
  ].join('\n');
  const halves = ctx.attrs.style === 'halves';
  const offsetIndex = offset && sizeOfShape(offset.shape) > 1 ? `i / ${int(heads * dh * t)}` : '0';
  const body = [
    `int j = ${imod('i', dh)};`,
    `if (j >= ${int(rotary)}) { return ${sample(0, 'i')}; }`,
    `int ti = ${imod(`i / ${int(heads * dh)}`, t)};`,
    halves ? `bool first = j < ${int(half)};` : `bool first = ${imod('j', 2)} == 0;`,
    halves ? `int pair = ${imod('j', half)};` : 'int pair = j / 2;',
    halves ? `int partner = first ? i + ${int(half)} : i - ${int(half)};` : 'int partner = first ? i + 1 : i - 1;',
    offset ? `float position = ${sample(1, offsetIndex)} + float(ti);` : 'float position = float(ti);',
    'float angle = position * loom_rope_freq(pair);',
    'float c = loom_sincos(angle, true);',
    'float s = loom_sincos(angle, false);',
    `float a = ${sample(0, 'i')};`,
    `float b = ${sample(0, 'partner')};`,
    'return first ? a * c - b * s : a * c + b * s;',
  ];
  return [{ inputs: ctx.inputs.map((_, k) => input(k)), size, helpers: [GLSL.helpers.loom_sincos, lookup], body, what: 'rope' }];
}

import { f32Literal, imod, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';
import { dropoutHashHelpers, dropoutThreshold, HASH_MOD, type Word24Syntax } from '../../training-kernels.ts';

/**
 * The hash's 24-bit words as floats (GLSL ES 1.00 has no integers): every sum and product is kept
 * below 2^24, where float32 is exact, by splitting words into 12-bit limbs as @loom/graph's add24 and
 * mul24 do. Divisions by powers of two are written as products by their exact reciprocals.
 */
const LIMB = 4096;
const limbs = (a: string) => [`mod(${a}, ${f32Literal(LIMB)})`, `floor(${a} * ${f32Literal(1 / LIMB)})`] as const;

const WORD24: Word24Syntax = {
  fn: (name, params, body) => [`float ${name}(${params.map((q) => `float ${q}`).join(', ')}) {`, ...body.map((l) => `  ${l}`), '}'].join('\n'),
  var: (name, value) => `float ${name} = ${value};`,
  literal: (n) => f32Literal(n),
  add: (a, b) => `loom_add24(${a}, ${b})`,
  mul: (a, b) => `loom_mul24(${a}, ${b})`,
  shr11: (x) => `floor(${x} * ${f32Literal(1 / 2048)})`,
  helpers: [
    [
      'float loom_add24(float a, float b) {',
      `  float lo = ${limbs('a')[0]} + ${limbs('b')[0]};`,
      `  float hi = ${limbs('a')[1]} + ${limbs('b')[1]} + ${limbs('lo')[1]};`,
      `  return ${limbs('hi')[0]} * ${f32Literal(LIMB)} + ${limbs('lo')[0]};`,
      '}',
    ].join('\n'),
    [
      'float loom_mul24(float a, float b) {',
      `  float lo = ${limbs('a')[0]} * ${limbs('b')[0]};`,
      `  float mid = mod(mod(${limbs('a')[1]} * ${limbs('b')[0]}, ${f32Literal(LIMB)}) + mod(${limbs('a')[0]} * ${limbs('b')[1]}, ${f32Literal(LIMB)}), ${f32Literal(LIMB)});`,
      `  float hi = mod(${limbs('lo')[1]} + mid, ${f32Literal(LIMB)});`,
      `  return hi * ${f32Literal(LIMB)} + ${limbs('lo')[0]};`,
      '}',
    ].join('\n'),
  ],
};

const HASH = dropoutHashHelpers(WORD24);

/**
 * Inverted dropout, one fragment per element: kept where the hash of (seed, stream, index) reaches
 * the threshold, scaled by 1 / (1 - p); the mask is the reference's bit for bit. The seed is an
 * integer held in a float (exact within 2^24, which the runtime checks of i32 feeds).
 */
export function dropoutKernel(ctx: KernelContext<'dropout'>): GlPass[] {
  const size = sizeOfShape(ctx.output.shape);
  if (size === 0) return [];
  const mod = f32Literal(HASH_MOD);
  const body = [
    `float seed24 = mod(${sample(1, '0')}, ${mod});`,
    `float lo = float(${imod('i', HASH_MOD)});`,
    `float hi = float(i / ${int(HASH_MOD)});`,
    `if (loom_dropout_hash(seed24, ${f32Literal(ctx.attrs.stream)}, lo, hi) < ${f32Literal(dropoutThreshold(ctx.attrs.p))}) { return 0.0; }`,
    `return ${sample(0, 'i')} * ${f32Literal(1 / (1 - ctx.attrs.p))};`,
  ];
  return [{ inputs: [input(0), input(1)], size, helpers: HASH, body, what: 'dropout' }];
}

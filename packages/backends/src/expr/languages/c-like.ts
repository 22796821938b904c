import type { BinaryName, CompareName, UnaryName } from '@loom/graph';
import type { SharedHelper } from '../helpers.ts';
import type { OpSpelling } from '../language.ts';

/**
 * The spellings WGSL and GLSL share (as tinygrad's C-style languages share one base): built-ins with
 * the same names, operators, and the accuracy helpers of helpers.ts. Each language adds what differs
 * (rsqrt's name, casts, literals, select, binding) and the source of `loom_idiv`, integer division,
 * which depends on how the language holds an i32.
 */
export type CLikeHelper = SharedHelper | 'loom_idiv';

type Spellings<K extends string> = { readonly [Op in K]: OpSpelling<CLikeHelper> };

/** Every unary op but rsqrt (inverseSqrt in WGSL, inversesqrt in GLSL). */
export const C_LIKE_UNARY: Spellings<Exclude<UnaryName, 'rsqrt'>> = {
  neg: { code: (a) => `-(${a})` },
  abs: { code: (a) => `abs(${a})` },
  exp: { code: (a) => `exp(${a})` },
  log: { code: (a) => `log(${a})` },
  sqrt: { code: (a) => `sqrt(${a})` },
  reciprocal: { code: (a) => `(1.0 / ${a})` },
  tanh: { helpers: ['loom_tanh'], code: (a) => `loom_tanh(${a})` },
  sigmoid: { code: (a) => `(1.0 / (1.0 + exp(-(${a}))))` },
  relu: { code: (a) => `max(${a}, 0.0)` },
  gelu: { helpers: ['loom_erf'], code: (a) => `(0.5 * ${a} * (1.0 + loom_erf(${a} * 0.70710678)))` },
  gelu_tanh: { helpers: ['loom_tanh'], code: (a) => `(0.5 * ${a} * (1.0 + loom_tanh(0.79788456 * (${a} + 0.044715 * ${a} * ${a} * ${a}))))` },
  erf: { helpers: ['loom_erf'], code: (a) => `loom_erf(${a})` },
  sin: { helpers: ['loom_sincos'], code: (a) => `loom_sincos(${a}, false)` },
  cos: { helpers: ['loom_sincos'], code: (a) => `loom_sincos(${a}, true)` },
};

export const C_LIKE_BINARY: Spellings<BinaryName> = {
  add: { code: (a, b) => `(${a} + ${b})` },
  sub: { code: (a, b) => `(${a} - ${b})` },
  mul: { code: (a, b) => `(${a} * ${b})` },
  // integer division truncates toward zero and gives 0 for a zero divisor, as the reference stores it
  div: { code: (a, b) => `(${a} / ${b})`, i32: { helpers: ['loom_idiv'], code: (a, b) => `loom_idiv(${a}, ${b})` } },
  pow: { helpers: ['loom_pow'], code: (a, b) => `loom_pow(${a}, ${b})` },
  maximum: { code: (a, b) => `max(${a}, ${b})` },
  minimum: { code: (a, b) => `min(${a}, ${b})` },
  broadcast_like: { code: (a) => a },
};

export const C_LIKE_COMPARE: { readonly [K in CompareName]: string } = {
  equal: '==',
  not_equal: '!=',
  less: '<',
  less_equal: '<=',
  greater: '>',
  greater_equal: '>=',
};

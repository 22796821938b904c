import { withPoint } from './float-literal.ts';

/**
 * The accuracy helpers of the GPU languages (WGSL, GLSL), written once: their numbers as data, and
 * each helper as a function of a small per-language syntax (declarations, select, the integer
 * bookkeeping of sin/cos), so both languages print the same coefficients from the same source. The
 * built-ins they replace may be far less accurate than the float32 budget of the conformance tests
 * (WGSL allows sin/cos 2^-11 absolute; SwiftShader measures 1.9e-4; there is no erf at all). The
 * JavaScript language computes in float64 and calls @loom/graph's functions instead.
 */

/** tanh(x) = x * P(x^2) for |x| < `below` (the Taylor series to x^7); else from exp(-2|x|), clamped. */
export const TANH = { below: 0.125, series: [1, -0.33333333, 0.13333333, -0.053968254], clamp: 20 } as const;

export const ERF = {
  /** erf(x) = 2/sqrt(pi) * x * P(x^2) for |x| < `below`: the Maclaurin series to x^11, error < 2e-8 there. */
  below: 0.5,
  twoOverSqrtPi: 1.1283791671,
  series: [1, -0.33333333, 0.1, -0.023809524, 0.0046296296, -0.00075757576],
  /** Abramowitz & Stegun 7.1.26, |error| < 1.5e-7: erf(x) = 1 - t * P(t) * exp(-x^2), t = 1 / (1 + p x). */
  p: 0.3275911,
  tail: [0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429],
} as const;

/**
 * Cephes' sinf/cosf: octant reduction with pi/4 split in three parts (exact products for |x| < 8192),
 * then minimax polynomials: sin(r) = r + r z S(z), cos(r) = 1 - z/2 + z^2 C(z), z = r^2.
 */
export const CEPHES_SINCOS = {
  fourOverPi: 1.2732395447351628,
  piOver4: [0.78515625, 2.4187564849853515625e-4, 3.77489497744594108e-8],
  sin: [-1.6666654611e-1, 8.3321608736e-3, -1.9515295891e-4],
  cos: [4.166664568298827e-2, -1.388731625493765e-3, 2.443315711809948e-5],
} as const;

/** The types of a helper's locals; `octant` is sin/cos's octant counter (an integer). */
export type LocalType = 'f32' | 'bool' | 'octant';

/** How a C-like language spells what the helpers need. */
export interface HelperSyntax {
  /** A function returning f32, its body indented by the caller. */
  fn(name: string, params: readonly (readonly [string, 'f32' | 'bool'])[], body: readonly string[]): string;
  /** An immutable local. */
  let(name: string, type: LocalType, value: string): string;
  /** A mutable local. */
  var(name: string, type: LocalType, value: string): string;
  select(cond: string, ifTrue: string, ifFalse: string): string;
  /** The octant counter's arithmetic: from a non-negative float (truncating), to a float, literals, odd, mod 8. */
  readonly octant: {
    fromFloat(x: string): string;
    toFloat(j: string): string;
    literal(n: number): string;
    isOdd(j: string): string;
    mod8(j: string): string;
  };
}

/** A coefficient as a float literal both languages read, all its float64 digits kept. */
export function coefficient(value: number): string {
  return withPoint(value !== 0 && Math.abs(value) < 1e-3 ? value.toExponential() : String(value));
}

/** c0 + x (c1 + x (c2 + ...)), parenthesized. */
export function horner(x: string, coefficients: readonly number[]): string {
  let text = coefficient(coefficients[coefficients.length - 1]!);
  for (let k = coefficients.length - 2; k >= 0; k--) text = `(${coefficient(coefficients[k]!)} + ${x} * ${text})`;
  return text;
}

const block = (head: string, lines: readonly string[]): string[] => [`${head} {`, ...lines.map((l) => `  ${l}`), '}'];

/** The helpers both GPU languages print from this file, by name. */
export type SharedHelper = 'loom_tanh' | 'loom_erf' | 'loom_pow' | 'loom_sincos';

export function sharedHelpers(s: HelperSyntax): Record<SharedHelper, string> {
  const f = coefficient;
  const o = s.octant;
  const [dp1, dp2, dp3] = CEPHES_SINCOS.piOver4.map(f) as [string, string, string];
  return {
    loom_tanh: s.fn('loom_tanh', [['x', 'f32']], [
      s.let('a', 'f32', 'abs(x)'),
      ...block(`if (a < ${f(TANH.below)})`, [s.let('x2', 'f32', 'x * x'), `return x * ${horner('x2', TANH.series)};`]),
      s.let('t', 'f32', `exp(-2.0 * min(a, ${f(TANH.clamp)}))`),
      'return sign(x) * (1.0 - t) / (1.0 + t);',
    ]),
    loom_erf: s.fn('loom_erf', [['x', 'f32']], [
      s.let('a', 'f32', 'abs(x)'),
      ...block(`if (a < ${f(ERF.below)})`, [s.let('x2', 'f32', 'x * x'), `return ${f(ERF.twoOverSqrtPi)} * x * ${horner('x2', ERF.series)};`]),
      s.let('t', 'f32', `1.0 / (1.0 + ${f(ERF.p)} * a)`),
      s.let('poly', 'f32', `t * ${horner('t', ERF.tail)}`),
      'return sign(x) * (1.0 - poly * exp(-a * a));',
    ]),
    // pow of a negative base: defined for integer exponents (odd ones keep the sign), NaN otherwise
    loom_pow: s.fn('loom_pow', [['a', 'f32'], ['b', 'f32']], [
      'if (b == 0.0) { return 1.0; }',
      `if (a == 0.0) { return ${s.select('b < 0.0', '1.0 / a', '0.0')}; }`,
      s.let('magnitude', 'f32', 'pow(abs(a), b)'),
      'if (a > 0.0) { return magnitude; }',
      'if (b != floor(b)) { return (a - a) / (a - a); }',
      `return ${s.select('fract(b * 0.5) != 0.0', '-magnitude', 'magnitude')};`,
    ]),
    loom_sincos: s.fn('loom_sincos', [['x', 'f32'], ['cosine', 'bool']], [
      s.var('sgn', 'f32', s.select('x < 0.0 && !cosine', '-1.0', '1.0')),
      s.let('a', 'f32', 'abs(x)'),
      s.var('j', 'octant', o.fromFloat(`a * ${f(CEPHES_SINCOS.fourOverPi)}`)),
      s.var('y', 'f32', o.toFloat('j')),
      `if (${o.isOdd('j')}) { j += ${o.literal(1)}; y += 1.0; }`,
      `j = ${o.mod8('j')};`,
      `if (j > ${o.literal(3)}) { sgn = -sgn; j -= ${o.literal(4)}; }`,
      `if (cosine && j > ${o.literal(1)}) { sgn = -sgn; }`,
      s.let('r', 'f32', `((a - y * ${dp1}) - y * ${dp2}) - y * ${dp3}`),
      s.let('z', 'f32', 'r * r'),
      s.let('s', 'f32', `r + r * z * ${horner('z', CEPHES_SINCOS.sin)}`),
      s.let('c', 'f32', `1.0 - 0.5 * z + z * z * ${horner('z', CEPHES_SINCOS.cos)}`),
      s.let('use_cos', 'bool', `(j == ${o.literal(1)} || j == ${o.literal(2)}) != cosine`),
      `return sgn * ${s.select('use_cos', 'c', 's')};`,
    ]),
  };
}

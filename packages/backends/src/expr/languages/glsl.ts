import { WebGlUnsupportedOpError } from '../../webgl/errors.ts';
import { literal } from '../../webgl/glsl.ts';
import { sharedHelpers, type HelperSyntax, type LocalType } from '../helpers.ts';
import type { ExprLanguage } from '../language.ts';
import { C_LIKE_BINARY, C_LIKE_COMPARE, C_LIKE_UNARY, type CLikeHelper } from './c-like.ts';

/**
 * GLSL ES 1.00 (the webgl backend, through gpu.js). Every value is a float on the GPU: i32 values
 * are integers held in floats, so comparisons yield 1.0 / 0.0, a cast to i32 truncates, and integer
 * division is a float division with an exact correction step. There are no unsigned ints or bit
 * operations: sin/cos count octants in (exact) small floats.
 */

const select = (cond: string, ifTrue: string, ifFalse: string): string => `(${cond} ? ${ifTrue} : ${ifFalse})`;
const TYPES: Readonly<Record<LocalType, string>> = { f32: 'float', bool: 'bool', octant: 'float' };

const SYNTAX: HelperSyntax = {
  fn: (name, params, body) => [`float ${name}(${params.map(([p, t]) => `${TYPES[t]} ${p}`).join(', ')}) {`, ...body.map((l) => `  ${l}`), '}'].join('\n'),
  let: (name, type, value) => `${TYPES[type]} ${name} = ${value};`,
  var: (name, type, value) => `${TYPES[type]} ${name} = ${value};`,
  select,
  octant: {
    fromFloat: (x) => `floor(${x})`,
    toFloat: (j) => j,
    literal: (n) => `${n}.0`,
    isOdd: (j) => `mod(${j}, 2.0) == 1.0`,
    mod8: (j) => `mod(${j}, 8.0)`,
  },
};

export type GlslHelper = CLikeHelper | 'loom_trunc';

export const GLSL: ExprLanguage<GlslHelper> = {
  name: 'GLSL',
  unary: { ...C_LIKE_UNARY, rsqrt: { code: (a) => `inversesqrt(${a})` } },
  binary: C_LIKE_BINARY,
  compare: C_LIKE_COMPARE,
  casts: { 'f32->i32': { helpers: ['loom_trunc'], code: (a) => `loom_trunc(${a})` }, 'i32->f32': null },
  literal,
  select,
  bind: (name, source) => `float ${name} = ${source};`,
  helpers: {
    ...sharedHelpers(SYNTAX),
    loom_trunc: `float loom_trunc(float x) {
  return x < 0.0 ? ceil(x) : floor(x);
}`,
    // the reference stores trunc(a / 0) (+-Infinity or NaN) into an Int32Array: 0. The quotient of the
    // float division may be off by one ulp; the remainder check makes it exact for |a| < 2^24.
    loom_idiv: `float loom_idiv(float a, float b) {
  if (b == 0.0) return 0.0;
  float n = abs(a);
  float d = abs(b);
  float q = floor(n / d);
  float r = n - q * d;
  if (r < 0.0) q -= 1.0;
  else if (r >= d) q += 1.0;
  return (a < 0.0) != (b < 0.0) ? -q : q;
}`,
  },
  unsupported: (op, why) => new WebGlUnsupportedOpError(op, why),
};

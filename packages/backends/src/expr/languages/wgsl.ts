import { UnsupportedOpError } from '../../webgpu/errors.ts';
import { literal } from '../../webgpu/wgsl.ts';
import { sharedHelpers, type HelperSyntax, type LocalType } from '../helpers.ts';
import type { ExprLanguage } from '../language.ts';
import { C_LIKE_BINARY, C_LIKE_COMPARE, C_LIKE_UNARY, type CLikeHelper } from './c-like.ts';

/** WGSL (the webgpu backend): i32 values are i32, comparisons select 1i / 0i. */

const select = (cond: string, ifTrue: string, ifFalse: string): string => `select(${ifFalse}, ${ifTrue}, ${cond})`;

const SYNTAX: HelperSyntax = {
  fn: (name, params, body) => [`fn ${name}(${params.map(([p, t]) => `${p}: ${t}`).join(', ')}) -> f32 {`, ...body.map((l) => `  ${l}`), '}'].join('\n'),
  let: (name, _type: LocalType, value) => `let ${name} = ${value};`,
  var: (name, _type: LocalType, value) => `var ${name} = ${value};`,
  select,
  octant: {
    fromFloat: (x) => `u32(${x})`,
    toFloat: (j) => `f32(${j})`,
    literal: (n) => `${n}u`,
    isOdd: (j) => `(${j} & 1u) == 1u`,
    mod8: (j) => `${j} & 7u`,
  },
};

export const WGSL: ExprLanguage<CLikeHelper> = {
  name: 'WGSL',
  unary: { ...C_LIKE_UNARY, rsqrt: { code: (a) => `inverseSqrt(${a})` } },
  binary: C_LIKE_BINARY,
  compare: C_LIKE_COMPARE,
  casts: { 'f32->i32': { code: (a) => `i32(${a})` }, 'i32->f32': { code: (a) => `f32(${a})` } },
  literal,
  select,
  bind: (name, source) => `let ${name} = ${source};`,
  helpers: {
    ...sharedHelpers(SYNTAX),
    loom_idiv: `fn loom_idiv(a: i32, b: i32) -> i32 {
  // the reference stores trunc(a / 0) = +-Infinity or NaN into an Int32Array: 0
  return select(a / b, 0, b == 0);
}`,
  },
  unsupported: (op, why) => new UnsupportedOpError(op, why),
};

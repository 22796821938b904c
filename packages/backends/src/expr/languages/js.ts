import { UnsupportedKernelError } from '../../cpu/errors.ts';
import { call } from '../../cpu/render/runtime-call.ts';
import type { ExprLanguage } from '../language.ts';

/**
 * JavaScript (the cpu backend). Values are JS numbers (float64) inside an expression and rounded to
 * float32 once, when stored: a fused chain is at least as accurate as the unfused one. Nothing is
 * bound, so an expression stays one JavaScript expression (`out[i] = <expr>`); GELU and erf call
 * @loom/graph's float64 functions through the runtime (`rt.gelu`).
 */
export const JAVASCRIPT: ExprLanguage<never> = {
  name: 'JavaScript',
  unary: {
    neg: { code: (a) => `(-${a})` },
    abs: { code: (a) => `Math.abs(${a})` },
    exp: { code: (a) => `Math.exp(${a})` },
    log: { code: (a) => `Math.log(${a})` },
    sqrt: { code: (a) => `Math.sqrt(${a})` },
    rsqrt: { code: (a) => `(1 / Math.sqrt(${a}))` },
    reciprocal: { code: (a) => `(1 / ${a})` },
    tanh: { code: (a) => `Math.tanh(${a})` },
    sigmoid: { code: (a) => `(1 / (1 + Math.exp(-${a})))` },
    relu: { code: (a) => `Math.max(${a}, 0)` },
    gelu: { code: (a) => call('gelu', a) },
    gelu_tanh: { code: (a) => call('geluTanh', a) },
    erf: { code: (a) => call('erf', a) },
    sin: { code: (a) => `Math.sin(${a})` },
    cos: { code: (a) => `Math.cos(${a})` },
  },
  binary: {
    add: { code: (a, b) => `(${a} + ${b})` },
    sub: { code: (a, b) => `(${a} - ${b})` },
    mul: { code: (a, b) => `(${a} * ${b})` },
    // integer division truncates toward zero, like the reference; other i32 results are exact or wrap on store
    div: { code: (a, b) => `(${a} / ${b})`, i32: { code: (a, b) => `Math.trunc((${a} / ${b}))` } },
    pow: { code: (a, b) => `Math.pow(${a}, ${b})` },
    maximum: { code: (a, b) => `Math.max(${a}, ${b})` },
    minimum: { code: (a, b) => `Math.min(${a}, ${b})` },
    broadcast_like: { code: (a) => a },
  },
  compare: { equal: '===', not_equal: '!==', less: '<', less_equal: '<=', greater: '>', greater_equal: '>=' },
  casts: { 'f32->i32': { code: (a) => `Math.trunc(${a})` }, 'i32->f32': null },
  literal: numberLiteral,
  select: (cond, ifTrue, ifFalse) => `(${cond} ? ${ifTrue} : ${ifFalse})`,
  helpers: {},
  unsupported: (op, why) => new UnsupportedKernelError(op, why),
};

export function numberLiteral(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return Object.is(v, -0) ? '-0' : String(v);
}

import { BINARY_FUNCTIONS, COMPARE_FUNCTIONS, UNARY_FUNCTIONS, type DType, type Expr } from '@loom/graph';
import { UnsupportedOpError } from './errors.ts';
import { literal } from './wgsl.ts';

/**
 * Renders a fused elementwise `Expr` to WGSL statements. Every elementwise op of the op table has an
 * entry here; the float64 functions in ops/elementwise.ts are their meaning, and the conformance
 * tests hold each entry to it.
 */

/** WGSL helper functions, included in a shader only when an expression uses them. */
export const WGSL_HELPERS = {
  loom_tanh: `fn loom_tanh(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.125) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-0.33333333 + x2 * (0.13333333 + x2 * -0.053968254)));
  }
  let t = exp(-2.0 * min(a, 20.0));
  return sign(x) * (1.0 - t) / (1.0 + t);
}`,
  loom_erf: `fn loom_erf(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.5) {
    // Maclaurin series to x^11: error < 2e-8 here
    let x2 = x * x;
    return 1.1283791671 * x * (1.0 + x2 * (-0.33333333 + x2 * (0.1 + x2 * (-0.023809524 + x2 * (0.0046296296 + x2 * -0.00075757576)))));
  }
  // Abramowitz & Stegun 7.1.26: |error| < 1.5e-7
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-a * a));
}`,
  loom_pow: `fn loom_pow(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (a == 0.0) { return select(0.0, 1.0 / a, b < 0.0); }
  let magnitude = pow(abs(a), b);
  if (a > 0.0) { return magnitude; }
  if (b != floor(b)) { return (a - a) / (a - a); }
  return select(magnitude, -magnitude, fract(b * 0.5) != 0.0);
}`,
  // Cephes sinf/cosf: octant reduction with pi/4 split in three parts (exact products for |x| < 8192),
  // then minimax polynomials. The built-ins may be far less accurate (WGSL allows 2^-11 absolute;
  // SwiftShader measures 1.9e-4), which position encodings would feel.
  loom_sincos: `fn loom_sincos(x: f32, cosine: bool) -> f32 {
  var sign = select(1.0, -1.0, x < 0.0 && !cosine);
  let a = abs(x);
  var j = u32(a * 1.2732395447351628);
  var y = f32(j);
  if ((j & 1u) == 1u) { j += 1u; y += 1.0; }
  j = j & 7u;
  if (j > 3u) { sign = -sign; j -= 4u; }
  if (cosine && j > 1u) { sign = -sign; }
  let r = ((a - y * 0.78515625) - y * 2.4187564849853515625e-4) - y * 3.77489497744594108e-8;
  let z = r * r;
  let s = r + r * z * ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1);
  let c = 1.0 - 0.5 * z + z * z * ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2);
  let use_cos = (j == 1u || j == 2u) != cosine;
  return sign * select(s, c, use_cos);
}`,
  loom_idiv: `fn loom_idiv(a: i32, b: i32) -> i32 {
  // the reference stores trunc(a / 0) = +-Infinity or NaN into an Int32Array: 0
  return select(a / b, 0, b == 0);
}`,
} as const;

type HelperName = keyof typeof WGSL_HELPERS;

/** Helpers that call other helpers. */
const HELPER_DEPS: Partial<Record<HelperName, HelperName[]>> = {};

interface OpRender {
  /** Source for f32 arguments, and for i32 where it differs (undefined: same template). */
  readonly f32: (...args: string[]) => string;
  readonly i32?: (...args: string[]) => string;
  /** Helper functions the f32 (and shared) template calls. */
  readonly helpers?: readonly HelperName[];
  /** Helper functions the i32 template calls. */
  readonly i32Helpers?: readonly HelperName[];
}

const UNARY: Record<keyof typeof UNARY_FUNCTIONS, OpRender> = {
  neg: { f32: (a) => `-(${a})` },
  abs: { f32: (a) => `abs(${a})` },
  exp: { f32: (a) => `exp(${a})` },
  log: { f32: (a) => `log(${a})` },
  sqrt: { f32: (a) => `sqrt(${a})` },
  rsqrt: { f32: (a) => `inverseSqrt(${a})` },
  reciprocal: { f32: (a) => `(1.0 / ${a})` },
  tanh: { helpers: ['loom_tanh'], f32: (a) => `loom_tanh(${a})` },
  sigmoid: { f32: (a) => `(1.0 / (1.0 + exp(-(${a}))))` },
  relu: { f32: (a) => `max(${a}, 0.0)` },
  gelu: { helpers: ['loom_erf'], f32: (a) => `(0.5 * ${a} * (1.0 + loom_erf(${a} * 0.70710678)))` },
  gelu_tanh: { helpers: ['loom_tanh'], f32: (a) => `(0.5 * ${a} * (1.0 + loom_tanh(0.79788456 * (${a} + 0.044715 * ${a} * ${a} * ${a}))))` },
  erf: { helpers: ['loom_erf'], f32: (a) => `loom_erf(${a})` },
  sin: { helpers: ['loom_sincos'], f32: (a) => `loom_sincos(${a}, false)` },
  cos: { helpers: ['loom_sincos'], f32: (a) => `loom_sincos(${a}, true)` },
};

const BINARY: Record<keyof typeof BINARY_FUNCTIONS, OpRender> = {
  add: { f32: (a, b) => `(${a} + ${b})` },
  sub: { f32: (a, b) => `(${a} - ${b})` },
  mul: { f32: (a, b) => `(${a} * ${b})` },
  div: { f32: (a, b) => `(${a} / ${b})`, i32Helpers: ['loom_idiv'], i32: (a, b) => `loom_idiv(${a}, ${b})` },
  pow: { helpers: ['loom_pow'], f32: (a, b) => `loom_pow(${a}, ${b})` },
  maximum: { f32: (a, b) => `max(${a}, ${b})` },
  minimum: { f32: (a, b) => `min(${a}, ${b})` },
};

const COMPARE_OPERATORS: Record<keyof typeof COMPARE_FUNCTIONS, string> = {
  equal: '==',
  not_equal: '!=',
  less: '<',
  less_equal: '<=',
  greater: '>',
  greater_equal: '>=',
};

export interface ExprInput {
  /** A WGSL expression (usually a `let` name) holding the input's value at this output position. */
  readonly value: string;
  readonly dtype: DType;
}

export interface RenderedExpr {
  /** `let` statements computing the intermediate values, in order. */
  readonly statements: string[];
  /** The WGSL expression of the result. */
  readonly result: string;
  readonly dtype: DType;
  /** Helper functions the statements call, as source. */
  readonly helpers: string[];
}

/** Renders `expr` over already-loaded input values; `prefix` keeps the `let` names unique. */
export function renderExpr(expr: Expr, inputs: readonly ExprInput[], prefix = 'e'): RenderedExpr {
  const statements: string[] = [];
  const helpers = new Set<HelperName>();
  let counter = 0;
  const bind = (source: string): string => {
    const name = `${prefix}${counter++}`;
    statements.push(`let ${name} = ${source};`);
    return name;
  };
  const visit = (e: Expr): { value: string; dtype: DType } => {
    if ('in' in e) {
      const input = inputs[e.in];
      if (!input) throw new UnsupportedOpError('fused_elementwise', `expression reads input ${e.in}, but the kernel has ${inputs.length}`);
      return input;
    }
    if ('const' in e) return { value: literal(e.const, e.dtype), dtype: e.dtype };
    const args = e.args.map(visit);
    const values = args.map((a) => a.value);
    const argType = args[0]?.dtype ?? 'f32';
    if (e.op === 'cast') {
      const to = e.dtype ?? 'f32';
      return { value: to === argType ? values[0]! : bind(`${to}(${values[0]})`), dtype: to };
    }
    if (e.op === 'where') return { value: bind(`select(${values[2]}, ${values[1]}, ${values[0]} != 0i)`), dtype: args[1]!.dtype };
    if (e.op in COMPARE_OPERATORS) {
      const operator = COMPARE_OPERATORS[e.op as keyof typeof COMPARE_OPERATORS];
      return { value: bind(`select(0i, 1i, ${values[0]} ${operator} ${values[1]})`), dtype: 'i32' };
    }
    const render = UNARY[e.op as keyof typeof UNARY] ?? BINARY[e.op as keyof typeof BINARY];
    if (!render) throw new UnsupportedOpError(e.op, 'not an elementwise op the WGSL renderer knows');
    if (argType === 'i32' && render.i32) {
      for (const h of render.i32Helpers ?? []) helpers.add(h);
      return { value: bind(render.i32(...values)), dtype: 'i32' };
    }
    for (const h of render.helpers ?? []) helpers.add(h);
    return { value: bind(render.f32(...values)), dtype: argType };
  };
  const out = visit(expr);
  const allHelpers = new Set<HelperName>();
  const addHelper = (h: HelperName): void => {
    if (allHelpers.has(h)) return;
    allHelpers.add(h);
    for (const d of HELPER_DEPS[h] ?? []) addHelper(d);
  };
  for (const h of helpers) addHelper(h);
  return { statements, result: out.value, dtype: out.dtype, helpers: [...allHelpers].sort().map((h) => WGSL_HELPERS[h]) };
}

import { BINARY_FUNCTIONS, COMPARE_FUNCTIONS, UNARY_FUNCTIONS, type DType, type Expr } from '@loom/graph';
import { WebGlUnsupportedOpError } from './errors.ts';
import { literal } from './glsl.ts';

/**
 * Renders a fused elementwise `Expr` to GLSL statements. Every elementwise op of the op table has an
 * entry here; the float64 functions in ops/elementwise.ts are their meaning, and the conformance
 * tests hold each entry to it. Values are floats on the GPU: i32 values are integers held in floats,
 * so comparisons yield 1.0 / 0.0 and integer division truncates with an exact correction step.
 */

/** GLSL helper functions, included in a kernel only when an expression uses them. */
export const GLSL_HELPERS = {
  loom_tanh: `float loom_tanh(float x) {
  float a = abs(x);
  if (a < 0.125) {
    float x2 = x * x;
    return x * (1.0 + x2 * (-0.33333333 + x2 * (0.13333333 + x2 * -0.053968254)));
  }
  float t = exp(-2.0 * min(a, 20.0));
  return sign(x) * (1.0 - t) / (1.0 + t);
}`,
  loom_erf: `float loom_erf(float x) {
  float a = abs(x);
  if (a < 0.5) {
    float x2 = x * x;
    return 1.1283791671 * x * (1.0 + x2 * (-0.33333333 + x2 * (0.1 + x2 * (-0.023809524 + x2 * (0.0046296296 + x2 * -0.00075757576)))));
  }
  float t = 1.0 / (1.0 + 0.3275911 * a);
  float poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-a * a));
}`,
  loom_pow: `float loom_pow(float a, float b) {
  if (b == 0.0) return 1.0;
  if (a == 0.0) return b < 0.0 ? 1.0 / a : 0.0;
  float magnitude = pow(abs(a), b);
  if (a > 0.0) return magnitude;
  if (b != floor(b)) return (a - a) / (a - a);
  return mod(b, 2.0) != 0.0 ? -magnitude : magnitude;
}`,
  // Cephes sinf/cosf as in the WGSL renderer, with the octant bookkeeping in (exact) small floats:
  // GLSL ES 1.00 has no unsigned ints or bit operations
  loom_sincos: `float loom_sincos(float x, bool cosine) {
  float sgn = (x < 0.0 && !cosine) ? -1.0 : 1.0;
  float a = abs(x);
  float j = floor(a * 1.2732395447351628);
  float y = j;
  if (mod(j, 2.0) == 1.0) { j += 1.0; y += 1.0; }
  j = mod(j, 8.0);
  if (j > 3.0) { sgn = -sgn; j -= 4.0; }
  if (cosine && j > 1.0) { sgn = -sgn; }
  float r = ((a - y * 0.78515625) - y * 2.4187564849853515625e-4) - y * 3.77489497744594108e-8;
  float z = r * r;
  float s = r + r * z * ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1);
  float c = 1.0 - 0.5 * z + z * z * ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2);
  bool useCos = (j == 1.0 || j == 2.0) != cosine;
  return sgn * (useCos ? c : s);
}`,
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
} as const;

export type HelperName = keyof typeof GLSL_HELPERS;

interface OpRender {
  readonly f32: (...args: string[]) => string;
  /** Source for i32 arguments where it differs. */
  readonly i32?: (...args: string[]) => string;
  readonly helpers?: readonly HelperName[];
  readonly i32Helpers?: readonly HelperName[];
}

const UNARY: Record<keyof typeof UNARY_FUNCTIONS, OpRender> = {
  neg: { f32: (a) => `-(${a})` },
  abs: { f32: (a) => `abs(${a})` },
  exp: { f32: (a) => `exp(${a})` },
  log: { f32: (a) => `log(${a})` },
  sqrt: { f32: (a) => `sqrt(${a})` },
  rsqrt: { f32: (a) => `inversesqrt(${a})` },
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
  /** A GLSL float expression (usually a local name) holding the input's value at this output position. */
  readonly value: string;
  readonly dtype: DType;
}

export interface RenderedExpr {
  /** Statements computing the intermediate values, in order. */
  readonly statements: string[];
  /** The GLSL expression of the result. */
  readonly result: string;
  readonly dtype: DType;
  /** Helper functions the statements call, as source. */
  readonly helpers: string[];
}

/** Renders `expr` over already-loaded input values; `prefix` keeps the local names unique. */
export function renderExpr(expr: Expr, inputs: readonly ExprInput[], prefix = 'e'): RenderedExpr {
  const statements: string[] = [];
  const helpers = new Set<HelperName>();
  let counter = 0;
  const bind = (source: string): string => {
    const name = `${prefix}${counter++}`;
    statements.push(`float ${name} = ${source};`);
    return name;
  };
  const visit = (e: Expr): { value: string; dtype: DType } => {
    if ('in' in e) {
      const input = inputs[e.in];
      if (!input) throw new WebGlUnsupportedOpError('fused_elementwise', `expression reads input ${e.in}, but the kernel has ${inputs.length}`);
      return input;
    }
    if ('const' in e) return { value: literal(e.const, e.dtype), dtype: e.dtype };
    const args = e.args.map(visit);
    const values = args.map((a) => a.value);
    const argType = args[0]?.dtype ?? 'f32';
    if (e.op === 'cast') {
      const to = e.dtype ?? 'f32';
      if (to === 'i32' && argType === 'f32') {
        helpers.add('loom_trunc');
        return { value: bind(`loom_trunc(${values[0]})`), dtype: 'i32' };
      }
      return { value: values[0]!, dtype: to };
    }
    if (e.op === 'where') return { value: bind(`(${values[0]} != 0.0 ? ${values[1]} : ${values[2]})`), dtype: args[1]!.dtype };
    if (e.op in COMPARE_OPERATORS) {
      const operator = COMPARE_OPERATORS[e.op as keyof typeof COMPARE_OPERATORS];
      return { value: bind(`(${values[0]} ${operator} ${values[1]} ? 1.0 : 0.0)`), dtype: 'i32' };
    }
    const render = UNARY[e.op as keyof typeof UNARY] ?? BINARY[e.op as keyof typeof BINARY];
    if (!render) throw new WebGlUnsupportedOpError(e.op, 'not an elementwise op the GLSL renderer knows');
    if (argType === 'i32' && render.i32) {
      for (const h of render.i32Helpers ?? []) helpers.add(h);
      return { value: bind(render.i32(...values)), dtype: 'i32' };
    }
    for (const h of render.helpers ?? []) helpers.add(h);
    return { value: bind(render.f32(...values)), dtype: argType };
  };
  const out = visit(expr);
  return { statements, result: out.value, dtype: out.dtype, helpers: [...helpers].sort().map((h) => GLSL_HELPERS[h]) };
}

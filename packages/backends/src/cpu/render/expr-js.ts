import { COMPARE_FUNCTIONS, type DType, type Expr } from '@loom/graph';

/**
 * Renders an elementwise expression to a JavaScript expression. Values are JS numbers (float64)
 * inside the expression and rounded to float32 once, when stored: a fused chain is at least as
 * accurate as the unfused one. `load(k)` names input k's value at the current position.
 */
const UNARY_JS: Record<string, (a: string) => string> = {
  neg: (a) => `(-${a})`,
  abs: (a) => `Math.abs(${a})`,
  exp: (a) => `Math.exp(${a})`,
  log: (a) => `Math.log(${a})`,
  sqrt: (a) => `Math.sqrt(${a})`,
  rsqrt: (a) => `(1 / Math.sqrt(${a}))`,
  reciprocal: (a) => `(1 / ${a})`,
  tanh: (a) => `Math.tanh(${a})`,
  sigmoid: (a) => `(1 / (1 + Math.exp(-${a})))`,
  relu: (a) => `Math.max(${a}, 0)`,
  gelu: (a) => `rt.gelu(${a})`,
  gelu_tanh: (a) => `rt.geluTanh(${a})`,
  erf: (a) => `rt.erf(${a})`,
  sin: (a) => `Math.sin(${a})`,
  cos: (a) => `Math.cos(${a})`,
};

const BINARY_JS: Record<string, (a: string, b: string) => string> = {
  add: (a, b) => `(${a} + ${b})`,
  sub: (a, b) => `(${a} - ${b})`,
  mul: (a, b) => `(${a} * ${b})`,
  div: (a, b) => `(${a} / ${b})`,
  pow: (a, b) => `Math.pow(${a}, ${b})`,
  maximum: (a, b) => `Math.max(${a}, ${b})`,
  minimum: (a, b) => `Math.min(${a}, ${b})`,
  equal: (a, b) => `(${a} === ${b} ? 1 : 0)`,
  not_equal: (a, b) => `(${a} !== ${b} ? 1 : 0)`,
  less: (a, b) => `(${a} < ${b} ? 1 : 0)`,
  less_equal: (a, b) => `(${a} <= ${b} ? 1 : 0)`,
  greater: (a, b) => `(${a} > ${b} ? 1 : 0)`,
  greater_equal: (a, b) => `(${a} >= ${b} ? 1 : 0)`,
};

export class UnsupportedOpError extends Error {}

export function exprToJs(expr: Expr, load: (k: number) => string, inputDTypes: readonly DType[]): { code: string; dtype: DType } {
  if ('in' in expr) return { code: load(expr.in), dtype: inputDTypes[expr.in]! };
  if ('const' in expr) return { code: numberLiteral(expr.const), dtype: expr.dtype };
  const args = expr.args.map((a) => exprToJs(a, load, inputDTypes));
  const [a, b, c] = args;
  if (expr.op === 'cast') {
    const to = expr.dtype!;
    return { code: to === 'i32' && a!.dtype === 'f32' ? `Math.trunc(${a!.code})` : a!.code, dtype: to };
  }
  if (expr.op === 'where') return { code: `(${a!.code} !== 0 ? ${b!.code} : ${c!.code})`, dtype: b!.dtype };
  if (expr.op in UNARY_JS) return { code: UNARY_JS[expr.op]!(a!.code), dtype: a!.dtype };
  const render = BINARY_JS[expr.op];
  if (!render) throw new UnsupportedOpError(`cpu: no JavaScript rendering for elementwise op '${expr.op}'`);
  const isCompare = expr.op in COMPARE_FUNCTIONS;
  let code = render(a!.code, b!.code);
  // integer division truncates toward zero, like the reference; other i32 results are exact or wrap on store
  if (!isCompare && expr.op === 'div' && a!.dtype === 'i32') code = `Math.trunc(${code})`;
  return { code, dtype: isCompare ? 'i32' : a!.dtype };
}

export function numberLiteral(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return Object.is(v, -0) ? '-0' : String(v);
}

import { Code } from './wasm-module.ts';

/**
 * Two-lane float64 math for generated kernels, each a function (v128) -> v128 over f64x2, written
 * with the instructions of wasm-module.ts in plain multiply and add (no fused multiply-add: the same
 * bits on every engine). Kernels compute in float64 and round once when they store float32, as the
 * JavaScript loop does, so these aim at float64 accuracy well past float32's: e^x by range reduction
 * (ln 2 in two parts) and its Taylor polynomial to r^10 (relative error below 1e-12); tanh by its
 * Taylor series below 0.25 and by e^(2x) above (relative error below 1e-11).
 */
export type MathHelper = 'exp' | 'tanh' | 'sigmoid' | 'relu' | 'gelu_tanh';

/** Which helpers each one calls (they must come earlier in the module). */
export const HELPER_CALLS: Record<MathHelper, readonly MathHelper[]> = {
  exp: [],
  tanh: ['exp'],
  sigmoid: ['exp'],
  relu: [],
  gelu_tanh: ['tanh'],
};

/** The helpers a set needs, callees first. */
export function helperOrder(needed: Iterable<MathHelper>): MathHelper[] {
  const order: MathHelper[] = [];
  const visit = (h: MathHelper) => {
    if (order.includes(h)) return;
    HELPER_CALLS[h].forEach(visit);
    order.push(h);
  };
  for (const h of needed) visit(h);
  return order;
}

/** acc = acc * r + coefficient */
const hornerStep = (c: Code, acc: string, r: string, coefficient: number) =>
  c.get(acc).get(r).simd('f64x2.mul').splatConst(coefficient, 'f64').simd('f64x2.add').set(acc);

const factorial = (k: number): number => (k <= 1 ? 1 : k * factorial(k - 1));

/** tanh's Taylor coefficients of x^1, x^3, ..., x^13. */
const TANH_SERIES = [1, -1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075];

/** The body of `helper`, calling earlier helpers by their function index in `index`. */
export function helperCode(helper: MathHelper, index: (h: MathHelper) => number): Code {
  const c = new Code([{ name: 'x', type: 'v128' }], 'v128');
  switch (helper) {
    case 'exp': {
      // x = n ln2 + r, |r| <= ln2/2; 2^n built in the exponent bits from the mantissa of n + 1.5 * 2^52;
      // infinity past 709.78 and 0 below -708 (as float64's e^x, to float32 and within an expression alike)
      c.local('n', 'v128'); c.local('r', 'v128'); c.local('p', 'v128'); c.local('big', 'v128'); c.local('tiny', 'v128');
      c.get('x').splatConst(709.782712893384, 'f64').simd('f64x2.gt').set('big');
      c.get('x').splatConst(-708, 'f64').simd('f64x2.lt').set('tiny');
      c.get('x').splatConst(709, 'f64').simd('f64x2.min').splatConst(-708, 'f64').simd('f64x2.max').set('x');
      c.get('x').splatConst(Math.LOG2E, 'f64').simd('f64x2.mul').simd('f64x2.nearest').set('n');
      c.get('x').get('n').splatConst(0.6931471803691238, 'f64').simd('f64x2.mul').simd('f64x2.sub').set('r');
      c.get('r').get('n').splatConst(1.9082149292705877e-10, 'f64').simd('f64x2.mul').simd('f64x2.sub').set('r');
      c.splatConst(1 / factorial(10), 'f64').set('p');
      for (let k = 9; k >= 0; k--) hornerStep(c, 'p', 'r', 1 / factorial(k));
      c.splatConst(Infinity, 'f64').get('p');
      c.get('n').splatConst(6755399441055744, 'f64').simd('f64x2.add').splatConst(0x4338000000000000n, 'i64').simd('i64x2.sub');
      c.splatConst(1023n, 'i64').simd('i64x2.add').i32(52).simd('i64x2.shl').simd('f64x2.mul');
      c.get('big').simd('v128.bitselect'); // infinity where big, else p 2^n
      c.get('tiny').simd('v128.andnot');
      return c;
    }
    case 'tanh': {
      // |x| < 0.25: x (1 + z (c3 + z (c5 + ...))), z = x^2; else 1 - 2 / (e^(2|x|) + 1); the sign of x put back
      c.local('a', 'v128'); c.local('z', 'v128'); c.local('p', 'v128');
      c.get('x').simd('f64x2.abs').set('a');
      c.get('a').get('a').simd('f64x2.mul').set('z');
      c.splatConst(TANH_SERIES[TANH_SERIES.length - 1]!, 'f64').set('p');
      for (let k = TANH_SERIES.length - 2; k >= 0; k--) hornerStep(c, 'p', 'z', TANH_SERIES[k]!);
      c.get('p').get('a').simd('f64x2.mul'); // the small-|x| value
      c.splatConst(1, 'f64').splatConst(2, 'f64').get('a').get('a').simd('f64x2.add').call(index('exp')).splatConst(1, 'f64').simd('f64x2.add').simd('f64x2.div').simd('f64x2.sub'); // the large-|x| value
      c.get('a').splatConst(0.25, 'f64').simd('f64x2.lt').simd('v128.bitselect');
      c.get('x').splatConst(-0, 'f64').simd('v128.and').simd('v128.or');
      return c;
    }
    case 'sigmoid':
      c.splatConst(1, 'f64').splatConst(1, 'f64').get('x').simd('f64x2.neg').call(index('exp')).simd('f64x2.add').simd('f64x2.div');
      return c;
    case 'relu':
      // x where x > 0, else 0 (NaN gives 0, as the reference's x > 0 ? x : 0)
      c.get('x').splatConst(0, 'f64').get('x').splatConst(0, 'f64').simd('f64x2.gt').simd('v128.bitselect');
      return c;
    case 'gelu_tanh':
      // 0.5 x (1 + tanh(0.7978845608028654 (x + 0.044715 x^3))), as @loom/graph's geluTanh
      c.splatConst(0.5, 'f64').get('x').simd('f64x2.mul').splatConst(1, 'f64');
      c.splatConst(0.7978845608028654, 'f64');
      c.get('x').splatConst(0.044715, 'f64').get('x').simd('f64x2.mul').get('x').simd('f64x2.mul').get('x').simd('f64x2.mul').simd('f64x2.add');
      c.simd('f64x2.mul').call(index('tanh')).simd('f64x2.add').simd('f64x2.mul');
      return c;
  }
}

import type { NodeRef, UnaryName, BinaryName } from '@loom/graph';
import { scalar, unbroadcast, type GradEmitter } from '../emit.ts';
import type { VjpContext, VjpRule, VjpTable } from '../vjp.ts';

/**
 * Elementwise ops: d input = g * f'(...), where f' is written with the op's own output `y` when that
 * is cheaper (exp, tanh, sigmoid, sqrt) and broadcast inputs are summed back to their shape
 * (unbroadcast). Comparisons and integer ops have no gradient (they never reach a parameter through
 * an f32 path: the analysis in grad.ts stops at them).
 */

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

type Unary = (b: GradEmitter, x: NodeRef, y: NodeRef, g: NodeRef) => NodeRef;

const mul = (b: GradEmitter, ...xs: NodeRef[]) => xs.reduce((p, x) => b.add('mul', [p, x]));
const sub = (b: GradEmitter, x: NodeRef, y: NodeRef) => b.add('sub', [x, y]);
const add = (b: GradEmitter, x: NodeRef, y: NodeRef) => b.add('add', [x, y]);
const c = scalar;

/** where(cond, a, 0) with cond an i32 mask. */
const masked = (b: GradEmitter, cond: NodeRef, a: NodeRef) => b.add('where', [cond, a, c(b, 0)]);

const UNARY_DERIVATIVES: Record<UnaryName, Unary> = {
  neg: (b, _x, _y, g) => b.add('neg', [g]),
  // |x|' = sign(x), 0 at 0 (as PyTorch)
  abs: (b, x, _y, g) => b.add('where', [b.add('greater', [x, c(b, 0)]), g, b.add('where', [b.add('less', [x, c(b, 0)]), b.add('neg', [g]), c(b, 0)])]),
  exp: (b, _x, y, g) => mul(b, g, y),
  log: (b, x, _y, g) => b.add('div', [g, x]),
  sqrt: (b, _x, y, g) => b.add('div', [mul(b, g, c(b, 0.5)), y]),
  // (x^-1/2)' = -1/2 x^-3/2 = -1/2 y^3
  rsqrt: (b, _x, y, g) => mul(b, g, c(b, -0.5), y, y, y),
  reciprocal: (b, _x, y, g) => b.add('neg', [mul(b, g, y, y)]),
  tanh: (b, _x, y, g) => mul(b, g, sub(b, c(b, 1), mul(b, y, y))),
  sigmoid: (b, _x, y, g) => mul(b, g, y, sub(b, c(b, 1), y)),
  // relu'(0) = 0, as PyTorch
  relu: (b, x, _y, g) => masked(b, b.add('greater', [x, c(b, 0)]), g),
  // (x Phi(x))' = Phi(x) + x phi(x)
  gelu: (b, x, _y, g) => {
    const cdf = mul(b, c(b, 0.5), add(b, c(b, 1), b.add('erf', [mul(b, x, c(b, INV_SQRT_2))])));
    const pdf = mul(b, c(b, INV_SQRT_2PI), b.add('exp', [mul(b, c(b, -0.5), x, x)]));
    return mul(b, g, add(b, cdf, mul(b, x, pdf)));
  },
  // 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t = tanh(sqrt(2/pi) (x + 0.044715 x^3))
  gelu_tanh: (b, x, _y, g) => {
    const x2 = mul(b, x, x);
    const t = b.add('tanh', [mul(b, c(b, SQRT_2_OVER_PI), add(b, x, mul(b, c(b, 0.044715), x2, x)))]);
    const inner = mul(b, c(b, SQRT_2_OVER_PI), add(b, c(b, 1), mul(b, c(b, 3 * 0.044715), x2)));
    const dt = mul(b, c(b, 0.5), x, sub(b, c(b, 1), mul(b, t, t)), inner);
    return mul(b, g, add(b, mul(b, c(b, 0.5), add(b, c(b, 1), t)), dt));
  },
  erf: (b, x, _y, g) => mul(b, g, c(b, TWO_OVER_SQRT_PI), b.add('exp', [b.add('neg', [mul(b, x, x)])])),
  sin: (b, x, _y, g) => mul(b, g, b.add('cos', [x])),
  cos: (b, x, _y, g) => b.add('neg', [mul(b, g, b.add('sin', [x]))]),
};

type Binary = (b: GradEmitter, x: NodeRef, y: NodeRef, out: NodeRef, g: NodeRef, needs: (i: number) => boolean) => [NodeRef | undefined, NodeRef | undefined];

/** For maximum and minimum: the gradient goes to the input that won, half to each on a tie (as PyTorch). */
function tieSplit(b: GradEmitter, x: NodeRef, y: NodeRef, g: NodeRef, wins: 'greater' | 'less'): [NodeRef, NodeRef] {
  const half = mul(b, g, c(b, 0.5));
  const tie = b.add('equal', [x, y]);
  const toX = b.add('where', [tie, half, masked(b, b.add(wins, [x, y]), g)]);
  const toY = b.add('where', [tie, half, masked(b, b.add(wins, [y, x]), g)]);
  return [toX, toY];
}

const BINARY_DERIVATIVES: Record<BinaryName, Binary> = {
  add: (_b, _x, _y, _o, g) => [g, g],
  sub: (b, _x, _y, _o, g, needs) => [g, needs(1) ? b.add('neg', [g]) : undefined],
  mul: (b, x, y, _o, g, needs) => [needs(0) ? mul(b, g, y) : undefined, needs(1) ? mul(b, g, x) : undefined],
  div: (b, _x, y, out, g, needs) => [needs(0) ? b.add('div', [g, y]) : undefined, needs(1) ? b.add('neg', [b.add('div', [mul(b, g, out), y])]) : undefined],
  // d/da a^b = b a^(b-1); d/db a^b = a^b log a (0 where a <= 0, where PyTorch's would be NaN or 0)
  pow: (b, x, y, out, g, needs) => [
    needs(0) ? mul(b, g, y, b.add('pow', [x, sub(b, y, c(b, 1))])) : undefined,
    needs(1) ? masked(b, b.add('greater', [x, c(b, 0)]), mul(b, g, out, b.add('log', [x]))) : undefined,
  ],
  maximum: (b, x, y, _o, g) => tieSplit(b, x, y, g, 'greater'),
  minimum: (b, x, y, _o, g) => tieSplit(b, x, y, g, 'less'),
  // the value of `like` is never read: only its shape matters
  broadcast_like: (_b, _x, _y, _o, g) => [g, undefined],
};

function unaryRule(name: UnaryName): VjpRule {
  return ({ b, inputs, output, cotangent }) => [UNARY_DERIVATIVES[name](b, inputs[0]!, output, cotangent)];
}

function binaryRule(name: BinaryName): VjpRule {
  return ({ b, inputs, output, cotangent, needs }: VjpContext) => {
    const [gx, gy] = BINARY_DERIVATIVES[name](b, inputs[0]!, inputs[1]!, output, cotangent, needs);
    return [gx && needs(0) ? unbroadcast(b, gx, b.typeOf(inputs[0]!)) : undefined, gy && needs(1) ? unbroadcast(b, gy, b.typeOf(inputs[1]!)) : undefined];
  };
}

export const ELEMENTWISE_RULES: VjpTable = {
  ...(Object.fromEntries(Object.keys(UNARY_DERIVATIVES).map((name) => [name, unaryRule(name as UnaryName)])) as VjpTable),
  ...(Object.fromEntries(Object.keys(BINARY_DERIVATIVES).map((name) => [name, binaryRule(name as BinaryName)])) as VjpTable),
  where: ({ b, inputs, cotangent, needs }) => {
    const [cond, x, y] = inputs as [NodeRef, NodeRef, NodeRef];
    const zero = c(b, 0);
    return [undefined, needs(1) ? unbroadcast(b, b.add('where', [cond, cotangent, zero]), b.typeOf(x)) : undefined, needs(2) ? unbroadcast(b, b.add('where', [cond, zero, cotangent]), b.typeOf(y)) : undefined];
  },
  // f32 -> f32 is the identity; casts to or from i32 carry no gradient (grad.ts never asks)
  cast: ({ cotangent }) => [cotangent],
};

import type { DType, Expr, Shape } from '@loom/graph';
import { helperCode, helperOrder, type MathHelper } from './simd-math.ts';
import { Code, encodeModule, type SimdOp } from './wasm-module.ts';

/**
 * Elementwise expressions compiled to WebAssembly SIMD at prepare time: two float64 lanes per
 * instruction, e^x and tanh by polynomials instead of JavaScript's Math calls (10-17 ns a value), and
 * rows split across the worker threads (../kernels/elementwise.ts runs them). Values are float64
 * inside an expression and rounded once when stored, as in the JavaScript loop (a fused chain is at
 * least as accurate as the unfused one); float32 lanes were tried and cost the training goldens'
 * accuracy (label smoothing's softmax - target cancels: its 0.9 rounded to float32 shows).
 *
 * The output is walked as rows of its last axis. Each input is read one of four ways, decided from
 * the static shapes: `full` (the output's shape), `scalar` (one value), `row` (one value per row:
 * the output's shape with a last axis of 1) or `lastAxis` (the same row for every row: the
 * output's last axis, size 1 elsewhere). Any other broadcast, and the ops without a SIMD spelling
 * here (log, sin, cos, pow, erf and GELU with erf, integer division), keep the JavaScript loop:
 * `planElementwiseWasm` says undefined. An int32 result out of int32's range saturates here where
 * JavaScript's store wraps.
 */
export type InputAccess = 'full' | 'scalar' | 'row' | 'lastAxis';

export interface ElementwiseWasmPlan {
  readonly expr: Expr;
  readonly access: readonly InputAccess[];
  readonly dtypes: readonly DType[];
  /** Whether the walk may cut the output into rows of any length (every input full or scalar). */
  readonly flat: boolean;
}

const same = (a: Shape[number] | undefined, b: Shape[number] | undefined) => a !== undefined && String(a) === String(b);

function accessOf(input: Shape, out: Shape): InputAccess | undefined {
  if (input.every((d) => d === 1)) return 'scalar';
  if (input.length === out.length && input.every((d, i) => same(d, out[i]))) return 'full';
  const rank = out.length;
  if (rank === 0 || input.length > rank) return undefined;
  const aligned = [...new Array<number>(rank - input.length).fill(1), ...input];
  const last = rank - 1;
  if (aligned[last] === 1 && aligned.slice(0, last).every((d, i) => same(d, out[i]))) return 'row';
  if (same(aligned[last], out[last]) && aligned.slice(0, last).every((d) => d === 1)) return 'lastAxis';
  return undefined;
}

/** Ops by their f64x2 spelling: an instruction, or a helper of simd-math.ts. i32 values are float64 lanes too, as in JavaScript. */
const UNARY_SIMD: Partial<Record<string, SimdOp | MathHelper | 'rsqrt' | 'reciprocal'>> = {
  neg: 'f64x2.neg',
  abs: 'f64x2.abs',
  sqrt: 'f64x2.sqrt',
  rsqrt: 'rsqrt',
  reciprocal: 'reciprocal',
  exp: 'exp',
  tanh: 'tanh',
  sigmoid: 'sigmoid',
  relu: 'relu',
  gelu_tanh: 'gelu_tanh',
};
const BINARY_SIMD: Partial<Record<string, SimdOp>> = {
  add: 'f64x2.add',
  sub: 'f64x2.sub',
  mul: 'f64x2.mul',
  div: 'f64x2.div',
  maximum: 'f64x2.max',
  minimum: 'f64x2.min',
};
const COMPARE_SIMD: Partial<Record<string, SimdOp>> = {
  equal: 'f64x2.eq',
  not_equal: 'f64x2.ne',
  less: 'f64x2.lt',
  less_equal: 'f64x2.le',
  greater: 'f64x2.gt',
  greater_equal: 'f64x2.ge',
};

/** `table[op]`, own entries only (an op named `toString` is no instruction). */
const spelling = <T>(table: Partial<Record<string, T>>, op: string): T | undefined => (Object.hasOwn(table, op) ? table[op] : undefined);

/** A value's lanes: float64 holding an f32 or an i32 value, or a comparison's mask (all ones where true). */
type Kind = 'f32' | 'i32' | 'mask';

/** The kind of an expression's value, or undefined where some op has no SIMD spelling here. */
function supported(expr: Expr, dtypes: readonly DType[]): Kind | undefined {
  if ('in' in expr) return dtypes[expr.in];
  if ('const' in expr) return expr.dtype;
  const args = expr.args.map((a) => supported(a, dtypes));
  if (args.some((a) => a === undefined)) return undefined;
  const first = args[0] === 'mask' ? 'i32' : args[0]!;
  if (expr.op === 'cast') return expr.dtype ?? 'f32';
  if (expr.op === 'where') return args[1] === 'mask' ? 'i32' : args[1];
  if (spelling(COMPARE_SIMD, expr.op)) return 'mask';
  if (spelling(UNARY_SIMD, expr.op)) return first === 'f32' || expr.op === 'neg' || expr.op === 'abs' ? first : undefined;
  // integer division (Math.trunc of the quotient, 0 for a zero divisor once stored) stays in JavaScript
  if (expr.op === 'div' && first !== 'f32') return undefined;
  if (spelling(BINARY_SIMD, expr.op) || expr.op === 'broadcast_like') return first;
  return undefined;
}

/** How to run `expr` over inputs of these static shapes on the SIMD path, or undefined (keep the JavaScript loop). */
export function planElementwiseWasm(expr: Expr, inputs: readonly { readonly staticShape: Shape; readonly dtype: DType }[], outShape: Shape): ElementwiseWasmPlan | undefined {
  const dtypes = inputs.map((i) => i.dtype);
  if (supported(expr, dtypes) === undefined) return undefined;
  const access = inputs.map((i) => accessOf(i.staticShape, outShape));
  if (access.some((a) => a === undefined)) return undefined;
  const plan = { expr, access: access as InputAccess[], dtypes, flat: access.every((a) => a === 'full' || a === 'scalar') };
  // browsers compile at most 4 KB synchronously on the main thread (the runtime compiles on first use)
  const key = planKey(plan);
  let bytes = moduleSizes.get(key);
  if (bytes === undefined) moduleSizes.set(key, (bytes = compileElementwise(plan).length));
  return bytes <= MAX_SYNC_MODULE_BYTES ? plan : undefined;
}

/** Chrome refuses `new WebAssembly.Module` of more bytes on the main thread. */
const MAX_SYNC_MODULE_BYTES = 4096;
/** Module sizes by plan key: each prepare plans every kernel again, and a plan compiles to the same bytes. */
const moduleSizes = new Map<string, number>();

/** The plan as a string: the cache key of its module, and what generated code passes to the runtime. */
export const planKey = (plan: ElementwiseWasmPlan): string => JSON.stringify([plan.expr, plan.access, plan.dtypes, plan.flat]);
export const parsePlanKey = (key: string): ElementwiseWasmPlan => {
  const [expr, access, dtypes, flat] = JSON.parse(key) as [Expr, InputAccess[], DType[], boolean];
  return { expr, access, dtypes, flat };
};

/** The helpers an expression calls. */
function helpersOf(expr: Expr, into = new Set<MathHelper>()): Set<MathHelper> {
  if ('op' in expr) {
    const unary = spelling(UNARY_SIMD, expr.op);
    if (unary && !unary.includes('.') && unary !== 'rsqrt' && unary !== 'reciprocal') into.add(unary as MathHelper);
    expr.args.forEach((a) => helpersOf(a, into));
  }
  return into;
}

/** Pushes `expr`'s two float64 lanes, input k read from local `v<k>`; returns the value's kind. */
function emitExpr(c: Code, expr: Expr, dtypes: readonly DType[], helper: (h: MathHelper) => number): Kind {
  // a mask where a number is wanted: 1 or 0 (the bits of 1.0 kept where all ones)
  const toNumber = (kind: Kind) => {
    if (kind === 'mask') c.splatConst(1, 'f64').simd('v128.and');
  };
  if ('in' in expr) {
    c.get(`v${expr.in}`);
    return dtypes[expr.in]!;
  }
  if ('const' in expr) {
    c.splatConst(expr.const, 'f64');
    return expr.dtype;
  }
  const arg = (i: number): Kind => emitExpr(c, expr.args[i]!, dtypes, helper);
  if (expr.op === 'cast') {
    const from = arg(0);
    const to = expr.dtype ?? 'f32';
    toNumber(from);
    if (from === 'f32' && to === 'i32') c.simd('f64x2.trunc'); // Math.trunc
    return to;
  }
  if (expr.op === 'where') {
    const yes = arg(1);
    toNumber(yes);
    toNumber(arg(2));
    const cond = arg(0);
    if (cond !== 'mask') c.splatConst(0, 'f64').simd('f64x2.ne');
    c.simd('v128.bitselect');
    return yes === 'mask' ? 'i32' : yes;
  }
  const compare = spelling(COMPARE_SIMD, expr.op);
  if (compare) {
    toNumber(arg(0));
    toNumber(arg(1));
    c.simd(compare);
    return 'mask';
  }
  const unary = spelling(UNARY_SIMD, expr.op);
  if (unary) {
    if (unary === 'reciprocal' || unary === 'rsqrt') c.splatConst(1, 'f64');
    const kind = arg(0);
    toNumber(kind);
    if (unary === 'reciprocal') c.simd('f64x2.div');
    else if (unary === 'rsqrt') c.simd('f64x2.sqrt').simd('f64x2.div');
    else if (unary.includes('.')) c.simd(unary as SimdOp);
    else c.call(helper(unary as MathHelper));
    return kind === 'mask' ? 'i32' : kind;
  }
  const a = arg(0);
  toNumber(a);
  if (expr.op === 'broadcast_like') return a === 'mask' ? 'i32' : a;
  toNumber(arg(1));
  c.simd(spelling(BINARY_SIMD, expr.op)!);
  return a === 'mask' ? 'i32' : a;
}

const I32 = 'i32' as const;

/**
 * The module for `plan`: export `run(r0, r1, n, total, out, in0, ...)` computes rows [r0, r1) of
 * `n` values (the last row stops at `total`), addresses in bytes.
 */
export function compileElementwise(plan: ElementwiseWasmPlan): Uint8Array<ArrayBuffer> {
  const helpers = helperOrder(helpersOf(plan.expr));
  const index = (h: MathHelper) => helpers.indexOf(h);
  const inputs = plan.access.map((_, k) => ({ name: `in${k}`, type: I32 }));
  const c = new Code([{ name: 'r0', type: I32 }, { name: 'r1', type: I32 }, { name: 'n', type: I32 }, { name: 'total', type: I32 }, { name: 'out', type: I32 }, ...inputs]);
  for (const name of ['e', 'end', 'po']) c.local(name, I32);
  plan.access.forEach((access, k) => {
    c.local(`v${k}`, 'v128');
    if (access === 'full' || access === 'lastAxis') c.local(`p${k}`, I32);
  });
  const streamed = plan.access.map((a, k) => (a === 'full' || a === 'lastAxis' ? k : -1)).filter((k) => k >= 0);
  // an input's lanes as float64: two values (vector steps), or one (the tail, and splat values)
  const widen = (k: number) => c.simd(plan.dtypes[k] === 'i32' ? 'f64x2.convert_low_i32x4_s' : 'f64x2.promote_low_f32x4');
  // scalars: loaded once
  plan.access.forEach((access, k) => {
    if (access !== 'scalar') return;
    c.get(`in${k}`).memory('v128.load32_splat');
    widen(k).set(`v${k}`);
  });
  const outDType = supported(plan.expr, plan.dtypes)!;
  c.block().loop();
  {
    c.get('r0').get('r1').op('i32.ge_u').brIf(1);
    c.get('r0').get('n').op('i32.mul').set('e');
    // end = min(e + n, total)
    c.get('e').get('n').op('i32.add').get('total').get('e').get('n').op('i32.add').get('total').op('i32.lt_u').op('select').set('end');
    c.get('out').get('e').i32(2).op('i32.shl').op('i32.add').set('po');
    plan.access.forEach((access, k) => {
      if (access === 'full') c.get(`in${k}`).get('e').i32(2).op('i32.shl').op('i32.add').set(`p${k}`);
      if (access === 'lastAxis') c.get(`in${k}`).set(`p${k}`);
      if (access === 'row') {
        c.get(`in${k}`).get('r0').i32(2).op('i32.shl').op('i32.add').memory('v128.load32_splat');
        widen(k).set(`v${k}`);
      }
    });
    for (const vector of [true, false]) {
      const step = vector ? 2 : 1;
      c.block().loop();
      if (vector) c.get('e').i32(2).op('i32.add').get('end').op('i32.gt_u').brIf(1);
      else c.get('e').get('end').op('i32.ge_u').brIf(1);
      for (const k of streamed) {
        c.get(`p${k}`).memory(vector ? 'v128.load64_zero' : 'v128.load32_zero');
        widen(k).set(`v${k}`);
      }
      c.get('po');
      const kind = emitExpr(c, plan.expr, plan.dtypes, index);
      if (kind === 'mask') c.splatConst(1, 'f64').simd('v128.and');
      // rounded once, to float32 or to int32 (toward zero)
      c.simd(outDType === 'f32' ? 'f32x4.demote_f64x2_zero' : 'i32x4.trunc_sat_f64x2_s_zero');
      c.memory(vector ? 'v128.store64_lane' : 'v128.store32_lane', 0, 0);
      for (const k of streamed) c.get(`p${k}`).i32(4 * step).op('i32.add').set(`p${k}`);
      c.get('po').i32(4 * step).op('i32.add').set('po');
      c.get('e').i32(step).op('i32.add').set('e');
      c.br(0).end().end();
    }
    c.get('r0').i32(1).op('i32.add').set('r0');
    c.br(0);
  }
  c.end().end();
  return encodeModule([...helpers.map((h) => ({ code: helperCode(h, index) })), { code: c, export: 'run' }]);
}

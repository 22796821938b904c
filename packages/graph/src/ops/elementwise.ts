import { z } from 'zod';
import type { DType } from '../dtype.ts';
import { allocStorage, sizeOf, type NDArray } from '../ndarray.ts';
import { defineOp, typeRule, type OpDef } from '../op-def.ts';
import { broadcastShapes, formatShape } from '../shape.ts';
import { forEachBroadcast } from './broadcast.ts';
import { erf, gelu, geluTanh, sigmoid } from './math.ts';

/**
 * Elementwise functions as data. Each entry is the float64 meaning of the op; backends render the
 * same names to their own source (JS, WGSL, GLSL) and the compiler fuses chains of them.
 */
interface ScalarFn<F> {
  readonly f: F;
  /** Whether the op also accepts i32 inputs (otherwise f32 only). */
  readonly ints: boolean;
}

export const UNARY_FUNCTIONS = {
  neg: { f: (x: number) => -x, ints: true },
  abs: { f: Math.abs, ints: true },
  exp: { f: Math.exp, ints: false },
  log: { f: Math.log, ints: false },
  sqrt: { f: Math.sqrt, ints: false },
  rsqrt: { f: (x: number) => 1 / Math.sqrt(x), ints: false },
  reciprocal: { f: (x: number) => 1 / x, ints: false },
  tanh: { f: Math.tanh, ints: false },
  sigmoid: { f: sigmoid, ints: false },
  relu: { f: (x: number) => (x > 0 ? x : 0), ints: false },
  gelu: { f: gelu, ints: false },
  gelu_tanh: { f: geluTanh, ints: false },
  erf: { f: erf, ints: false },
  sin: { f: Math.sin, ints: false },
  cos: { f: Math.cos, ints: false },
} as const satisfies Record<string, ScalarFn<(x: number) => number>>;

export const BINARY_FUNCTIONS = {
  add: { f: (a: number, b: number) => a + b, ints: true },
  sub: { f: (a: number, b: number) => a - b, ints: true },
  mul: { f: (a: number, b: number) => a * b, ints: true },
  div: { f: (a: number, b: number) => a / b, ints: true },
  pow: { f: Math.pow, ints: false },
  maximum: { f: Math.max, ints: true },
  minimum: { f: Math.min, ints: true },
  // a broadcast to b's shape: b's values are not read (the gradient of a sum or mean spreads back so)
  broadcast_like: { f: (a: number) => a, ints: true },
} as const satisfies Record<string, ScalarFn<(a: number, b: number) => number>>;

/** Comparisons yield i32 0/1, the mask type that `where` consumes. */
export const COMPARE_FUNCTIONS = {
  equal: { f: (a: number, b: number) => (a === b ? 1 : 0), ints: true },
  not_equal: { f: (a: number, b: number) => (a !== b ? 1 : 0), ints: true },
  less: { f: (a: number, b: number) => (a < b ? 1 : 0), ints: true },
  less_equal: { f: (a: number, b: number) => (a <= b ? 1 : 0), ints: true },
  greater: { f: (a: number, b: number) => (a > b ? 1 : 0), ints: true },
  greater_equal: { f: (a: number, b: number) => (a >= b ? 1 : 0), ints: true },
} as const satisfies Record<string, ScalarFn<(a: number, b: number) => number>>;

/**
 * Boolean logic on i32 masks: nonzero is true (as `where` reads a condition), results are i32 0/1.
 * Routing and masks combine with them (a window and a causal mask, experts picked and kept).
 */
export const LOGICAL_FUNCTIONS = {
  logical_and: { f: (a: number, b: number) => (a !== 0 && b !== 0 ? 1 : 0), arity: 2 },
  logical_or: { f: (a: number, b: number) => (a !== 0 || b !== 0 ? 1 : 0), arity: 2 },
  logical_not: { f: (a: number) => (a === 0 ? 1 : 0), arity: 1 },
} as const;

export type UnaryName = keyof typeof UNARY_FUNCTIONS;
export type LogicalName = keyof typeof LOGICAL_FUNCTIONS;
export type BinaryName = keyof typeof BINARY_FUNCTIONS;
export type CompareName = keyof typeof COMPARE_FUNCTIONS;

const noAttrs = z.object({}).strict();

function checkDType(op: string, dtype: DType, ints: boolean): void {
  typeRule(ints || dtype === 'f32', `${op} needs f32 inputs, got ${dtype}`);
}

function integerResult(x: number): number {
  // i32 division truncates toward zero like C; other i32 results are already integers
  return Math.trunc(x);
}

function unaryOp(name: UnaryName): OpDef<Record<string, never>> {
  const { f, ints } = UNARY_FUNCTIONS[name];
  return defineOp({
    name,
    category: 'elementwise',
    summary: `elementwise ${name}`,
    attrs: noAttrs,
    inputs: ['x'],
    minInputs: 1,
    infer([x]) {
      checkDType(name, x!.dtype, ints);
      return x!;
    },
    evaluate([x], _attrs, ctx) {
      const out = allocStorage(x!.dtype, sizeOf(ctx.outShape), ctx.precision);
      const src = x!.data;
      for (let i = 0; i < out.length; i++) out[i] = f(src[i]!);
      return { dtype: x!.dtype, shape: ctx.outShape, data: out };
    },
  });
}

function binaryOp(name: string, spec: ScalarFn<(a: number, b: number) => number>, compare: boolean): OpDef<Record<string, never>> {
  return defineOp({
    name,
    category: 'elementwise',
    summary: compare ? `elementwise ${name}, i32 0/1 result` : `elementwise ${name} with broadcasting`,
    attrs: noAttrs,
    inputs: ['a', 'b'],
    minInputs: 2,
    infer([a, b]) {
      typeRule(a!.dtype === b!.dtype, `dtypes differ (${a!.dtype} and ${b!.dtype}); cast one first`);
      checkDType(name, a!.dtype, spec.ints);
      const shape = broadcastShapes(a!.shape, b!.shape);
      typeRule(shape, `shapes ${formatShape(a!.shape)} and ${formatShape(b!.shape)} do not broadcast`);
      return { dtype: compare ? 'i32' : a!.dtype, shape };
    },
    evaluate([a, b], _attrs, ctx) {
      const dtype: DType = compare ? 'i32' : a!.dtype;
      const out = allocStorage(dtype, sizeOf(ctx.outShape), ctx.precision);
      const da = a!.data;
      const db = b!.data;
      const f = spec.f;
      const fix = dtype === 'i32' && !compare ? integerResult : (x: number) => x;
      forEachBroadcast(ctx.outShape, [a!.shape, b!.shape], (i, off) => {
        out[i] = fix(f(da[off[0]!]!, db[off[1]!]!));
      });
      return { dtype, shape: ctx.outShape, data: out } satisfies NDArray;
    },
  });
}

function logicalOp(name: LogicalName): OpDef<Record<string, never>> {
  const spec = LOGICAL_FUNCTIONS[name];
  const inputs = spec.arity === 1 ? ['x'] : ['a', 'b'];
  return defineOp({
    name,
    category: 'elementwise',
    summary: `elementwise ${name.replace('logical_', '')} of i32 masks (nonzero is true), i32 0/1 result`,
    attrs: noAttrs,
    inputs,
    minInputs: spec.arity,
    infer(types) {
      typeRule(types.every((t) => t.dtype === 'i32'), `${name} needs i32 masks, got ${types.map((t) => t.dtype).join(' and ')}`);
      const shape = types.length === 1 ? types[0]!.shape : broadcastShapes(types[0]!.shape, types[1]!.shape);
      typeRule(shape, `shapes ${types.map((t) => formatShape(t.shape)).join(' and ')} do not broadcast`);
      return { dtype: 'i32', shape };
    },
    evaluate(args, _attrs, ctx) {
      const out = allocStorage('i32', sizeOf(ctx.outShape), ctx.precision);
      const f = spec.f as (a: number, b?: number) => number;
      const [da, db] = [args[0]!.data, args[1]?.data];
      forEachBroadcast(ctx.outShape, args.map((a) => a.shape), (i, off) => {
        out[i] = f(da[off[0]!]!, db?.[off[1]!]);
      });
      return { dtype: 'i32', shape: ctx.outShape, data: out } satisfies NDArray;
    },
  });
}

export const logicalOps = Object.fromEntries(
  (Object.keys(LOGICAL_FUNCTIONS) as LogicalName[]).map((n) => [n, logicalOp(n)]),
) as Record<LogicalName, OpDef<Record<string, never>>>;

export const unaryOps = Object.fromEntries(
  (Object.keys(UNARY_FUNCTIONS) as UnaryName[]).map((n) => [n, unaryOp(n)]),
) as Record<UnaryName, OpDef<Record<string, never>>>;

export const binaryOps = Object.fromEntries(
  (Object.keys(BINARY_FUNCTIONS) as BinaryName[]).map((n) => [n, binaryOp(n, BINARY_FUNCTIONS[n], false)]),
) as Record<BinaryName, OpDef<Record<string, never>>>;

export const compareOps = Object.fromEntries(
  (Object.keys(COMPARE_FUNCTIONS) as CompareName[]).map((n) => [n, binaryOp(n, COMPARE_FUNCTIONS[n], true)]),
) as Record<CompareName, OpDef<Record<string, never>>>;

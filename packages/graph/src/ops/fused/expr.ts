import { z } from 'zod';
import type { DType } from '../../dtype.ts';
import type { NodeRef, OpEmitter } from '../../op-def.ts';
import { typeRule } from '../../op-def.ts';
import { BINARY_FUNCTIONS, COMPARE_FUNCTIONS, LOGICAL_FUNCTIONS, UNARY_FUNCTIONS } from '../elementwise.ts';
import { valueSchema } from '../schemas.ts';

/**
 * A fused elementwise computation as a small expression tree over a kernel's inputs. Every backend
 * renders it to one loop body (JS, WGSL, GLSL); the reference evaluates it through `emitExpr`.
 * - `{ in: k }` reads input k at the output position (broadcast)
 * - `{ const: v, dtype }` a literal
 * - `{ op, args }` an elementwise op of the op table (unary, binary, comparison, logical), `where`, or `cast`
 */
export type Expr =
  | { readonly in: number }
  | { readonly const: number; readonly dtype: DType }
  | { readonly op: string; readonly args: readonly Expr[]; readonly dtype?: DType };

export const exprSchema: z.ZodType<Expr> = z.lazy(() =>
  z.union([
    z.object({ in: z.number().int().nonnegative() }).strict(),
    z.object({ const: valueSchema, dtype: z.enum(['f32', 'i32']) }).strict(),
    z.object({ op: z.string(), args: z.array(exprSchema), dtype: z.enum(['f32', 'i32']).optional() }).strict(),
  ]),
);

export function exprArity(op: string): number | undefined {
  if (op in LOGICAL_FUNCTIONS) return LOGICAL_FUNCTIONS[op as keyof typeof LOGICAL_FUNCTIONS].arity;
  if (op in UNARY_FUNCTIONS || op === 'cast') return 1;
  if (op in BINARY_FUNCTIONS || op in COMPARE_FUNCTIONS) return 2;
  if (op === 'where') return 3;
  return undefined;
}

/** Checks an expression against its input dtypes and returns its result dtype. */
export function exprDType(expr: Expr, inputs: readonly DType[]): DType {
  if ('in' in expr) {
    const t = inputs[expr.in];
    typeRule(t !== undefined, `expression reads input ${expr.in}, but there are ${inputs.length} inputs`);
    return t;
  }
  if ('const' in expr) return expr.dtype;
  const arity = exprArity(expr.op);
  typeRule(arity !== undefined, `'${expr.op}' is not an elementwise op`);
  typeRule(expr.args.length === arity, `'${expr.op}' takes ${arity} arguments, got ${expr.args.length}`);
  const args = expr.args.map((a) => exprDType(a, inputs));
  if (expr.op === 'cast') {
    typeRule(expr.dtype !== undefined, 'cast needs a dtype');
    return expr.dtype;
  }
  if (expr.op === 'where') {
    typeRule(args[0] === 'i32' && args[1] === args[2], `where needs (i32, T, T), got (${args.join(', ')})`);
    return args[1]!;
  }
  if (expr.op in LOGICAL_FUNCTIONS) {
    typeRule(args.every((a) => a === 'i32'), `'${expr.op}' needs i32 masks, got ${args.join(' and ')}`);
    return 'i32';
  }
  if (expr.op in COMPARE_FUNCTIONS) {
    typeRule(args[0] === args[1], `'${expr.op}' got ${args.join(' and ')}`);
    return 'i32';
  }
  if (expr.op in BINARY_FUNCTIONS) {
    typeRule(args[0] === args[1], `'${expr.op}' got ${args.join(' and ')}`);
    typeRule(args[0] === 'f32' || BINARY_FUNCTIONS[expr.op as keyof typeof BINARY_FUNCTIONS].ints, `'${expr.op}' needs f32`);
    return args[0]!;
  }
  typeRule(args[0] === 'f32' || UNARY_FUNCTIONS[expr.op as keyof typeof UNARY_FUNCTIONS].ints, `'${expr.op}' needs f32`);
  return args[0]!;
}

/** Input indices an expression reads. */
export function exprInputs(expr: Expr, into = new Set<number>()): Set<number> {
  if ('in' in expr) into.add(expr.in);
  else if ('op' in expr) for (const a of expr.args) exprInputs(a, into);
  return into;
}

/** Emits the expression as ordinary elementwise nodes (its meaning, for the reference). */
export function emitExpr(b: OpEmitter, expr: Expr, inputs: readonly NodeRef[]): NodeRef {
  if ('in' in expr) return inputs[expr.in]!;
  if ('const' in expr) return b.constant(expr.const, [], expr.dtype);
  const args = expr.args.map((a) => emitExpr(b, a, inputs));
  return b.add(expr.op, args, expr.op === 'cast' ? { dtype: expr.dtype } : {});
}

/** Number of op nodes in an expression (for reports and fusion limits). */
export function exprSize(expr: Expr): number {
  return 'op' in expr ? 1 + expr.args.reduce((s, a) => s + exprSize(a), 0) : 0;
}

/** An Expr in call notation: `gelu_tanh(add(in0, in1))`. */
export function formatExpr(expr: Expr): string {
  if ('in' in expr) return `in${expr.in}`;
  if ('const' in expr) return String(expr.const);
  const args = expr.args.map(formatExpr).join(', ');
  return expr.op === 'cast' ? `cast<${expr.dtype}>(${args})` : `${expr.op}(${args})`;
}

import type { DType, Expr } from '@loom/graph';

/**
 * The one-op expression of a plain elementwise node (add, exp, where, cast, ...), so that every
 * backend renders plain and fused elementwise nodes through the same expression renderer.
 */
export function primitiveExpr(op: string, arity: number, attrs: Readonly<Record<string, unknown>>): Expr {
  const args = Array.from({ length: arity }, (_, k) => ({ in: k }));
  if (op === 'cast') return { op, args, dtype: attrs['dtype'] as DType };
  return { op, args };
}

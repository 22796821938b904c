import type { DType, Expr, GraphNode } from '@loom/graph';

/**
 * The one-op expression of a plain elementwise node (add, exp, where, cast, ...), so that every
 * backend renders plain and fused elementwise nodes through the same expression renderer.
 */
export function primitiveExpr(node: GraphNode): Expr {
  const args = node.inputs.map((_, k) => ({ in: k }));
  if (node.op === 'cast') return { op: 'cast', args, dtype: node.attrs['dtype'] as DType };
  return { op: node.op, args };
}

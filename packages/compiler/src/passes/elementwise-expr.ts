import { broadcastShapes, exprSize, getOp, quantizedExtrasStart, shapeEquals, type Dim, type Expr, type NodeRef, type Shape } from '@loom/graph';
import { uniformValue, type GraphView, type NodeView } from '../rewrite/pattern.ts';
import type { RewriteContext } from '../rewrite/rewrite-graph.ts';

/**
 * Shared by the fusions that build `Expr` trees (fuse-elementwise, fuse-matmul-epilogue): turning
 * elementwise nodes into expressions over a kernel's inputs.
 */

/**
 * Most inputs one fused kernel reads. With its output that is 8 storage buffers, WebGPU's default
 * maxStorageBuffersPerShaderStage.
 */
export const MAX_KERNEL_INPUTS = 7;

/**
 * Most ops one fused expression holds. Expressions are trees that every consumer (attribute schema,
 * type rule, renderers) walks recursively, so an unbounded chain (500000 `neg`s) would overflow the
 * stack; a longer chain becomes several kernels. Real models' epilogues hold a handful of ops.
 */
export const MAX_EXPR_OPS = 32;

/** Elementwise ops (unary, binary, compare, where, cast) and fused elementwise kernels. */
export function isElementwise(node: NodeView): boolean {
  return node.op === 'fused_elementwise' || getOp(node.op).category === 'elementwise';
}

/**
 * A product kernel with an epilogue (fused_matmul, quantized_matmul): the epilogue, where `{ in: 0 }`
 * is the product, and the index of its first extra input (after the product's operands).
 */
export function epilogueOf(node: NodeView): { epilogue: Expr; extrasStart: number } | undefined {
  if (node.op === 'fused_matmul') return { epilogue: node.attrs['epilogue'] as Expr, extrasStart: 2 };
  if (node.op === 'quantized_matmul') return { epilogue: node.attrs['epilogue'] as Expr, extrasStart: quantizedExtrasStart(node.attrs) };
  return undefined;
}

/** The expression a node computes over its own inputs ({ in: k } = input k). */
export function ownExpr(node: NodeView): Expr {
  if (node.op === 'fused_elementwise') return node.attrs['expr'] as Expr;
  const args = node.inputs.map((_, k) => ({ in: k }));
  return node.op === 'cast' ? { op: 'cast', args, dtype: node.type.dtype } : { op: node.op, args };
}

/**
 * How many times a node's expression refers to `ref` among its inputs. A producer may be inlined only
 * where it is referred to once: an expression is a tree, so two references compute it twice.
 */
export function referencesTo(node: NodeView, ref: NodeRef): number {
  const product = epilogueOf(node);
  const expr = product ? product.epilogue : ownExpr(node);
  const args = product ? [-1, ...node.inputs.slice(product.extrasStart)] : node.inputs;
  let count = 0;
  const visit = (e: Expr): void => {
    if ('in' in e) count += args[e.in] === ref ? 1 : 0;
    else if ('op' in e) e.args.forEach(visit);
  };
  visit(expr);
  return count;
}

/** Replaces each `{ in: k }` by `args[k]`. */
export function substitute(expr: Expr, args: readonly Expr[]): Expr {
  if ('in' in expr) return args[expr.in]!;
  if ('const' in expr) return expr;
  return { ...expr, args: expr.args.map((a) => substitute(a, args)) };
}

/**
 * Builds one expression for `root` where the nodes in `inline` (producers the kernel computes
 * itself) are expanded into their own expressions, and everything else becomes a kernel input.
 * Constants filled with one value become literals when the remaining inputs still give the kernel
 * root's shape. `fixedInputs` come first in the inputs and never become literals (an inlined
 * product kernel with an epilogue must be among them: its leaf stands for the product). Returns the expression and the
 * kernel's inputs, each read at least once.
 */
export function buildExpr(graph: GraphView, root: NodeRef, inline: ReadonlySet<NodeRef>, fixedInputs: readonly NodeRef[] = []): { expr: Expr; inputs: NodeRef[] } {
  const rootShape = graph.node(root).type.shape;
  const leaves: NodeRef[] = [...fixedInputs];
  const leafOf = (ref: NodeRef): Expr => {
    let k = leaves.indexOf(ref);
    if (k < 0) k = leaves.push(ref) - 1;
    return { in: k };
  };
  const exprOf = (ref: NodeRef): Expr => {
    const node = graph.node(ref);
    if (ref !== root && !inline.has(ref)) return leafOf(ref);
    // an inlined matmul epilogue: its { in: 0 } is the product, which the caller fixed as this node
    const product = epilogueOf(node);
    if (product) return substitute(product.epilogue, [leafOf(ref), ...node.inputs.slice(product.extrasStart).map(exprOf)]);
    return substitute(ownExpr(node), node.inputs.map(exprOf));
  };
  const raw = exprOf(root);

  // literals: filled constants, unless dropping them from the inputs would change the output shape
  const literal = (ref: NodeRef, allowShaped: boolean): Expr | undefined => {
    const node = graph.node(ref);
    const v = uniformValue(node);
    if (v === undefined || fixedInputs.includes(ref)) return undefined;
    if (!allowShaped && node.type.shape.length > 0) return undefined;
    return { const: v, dtype: node.type.dtype };
  };
  for (const allowShaped of [true, false]) {
    const kept = leaves.filter((ref) => literal(ref, allowShaped) === undefined);
    if (kept.length === 0) kept.push(leaves[0]!);
    if (allowShaped && !broadcastsTo(graph, kept, rootShape)) continue;
    const renumber = leaves.map((ref) => {
      const k = kept.indexOf(ref);
      return k >= 0 ? ({ in: k } as Expr) : literal(ref, allowShaped)!;
    });
    return { expr: substitute(raw, renumber), inputs: kept };
  }
  throw new Error('unreachable: rank-0 literals never change the output shape');
}

function broadcastsTo(graph: GraphView, refs: readonly NodeRef[], shape: Shape): boolean {
  let joined: Dim[] | undefined = [];
  for (const r of refs) joined = joined && broadcastShapes(joined, graph.node(r).type.shape);
  return joined !== undefined && shapeEquals(joined, shape);
}

/**
 * The rewrite of an elementwise fusion: the root (ctx.root) as one fused_elementwise that computes
 * the `candidates` itself, taken in order while the kernel stays within MAX_KERNEL_INPUTS inputs and
 * MAX_EXPR_OPS ops; undefined when none fits. The fusions differ only in which producers they offer.
 */
export function absorbInto(ctx: RewriteContext, candidates: readonly NodeRef[]): NodeRef | undefined {
  const inline = new Set<NodeRef>();
  let built: ReturnType<typeof buildExpr> | undefined;
  for (const c of candidates) {
    const trial = buildExpr(ctx, ctx.root, new Set([...inline, c]));
    if (trial.inputs.length > MAX_KERNEL_INPUTS || exprSize(trial.expr) > MAX_EXPR_OPS) continue;
    inline.add(c);
    built = trial;
  }
  return built ? ctx.add('fused_elementwise', built.inputs, { expr: built.expr }) : undefined;
}

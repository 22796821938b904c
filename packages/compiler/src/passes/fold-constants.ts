import { getOp, LoomError, ndarray, sizeOf, type NDArray } from '@loom/graph';
import { pat, type NodeView } from '../rewrite/pattern.ts';
import { rule, type RewriteContext } from '../rewrite/rewrite-graph.ts';
import { rewritePass } from './pass.ts';

/** Results up to this many elements are stored in the graph; larger ones are cheaper to compute. */
export const MAX_FOLDED_ELEMENTS = 4096;

/** Never evaluated at compile time: their values come from outside (input, param) or already are constants. */
const SOURCES_KEPT: ReadonlySet<string> = new Set(['input', 'param', 'constant']);

/**
 * A node whose inputs are all constants (or that has none, like a static `range`) is evaluated with
 * the op's float64 reference kernel and becomes a constant, when its shape is static and small. Nodes
 * whose evaluation fails (a gather index out of range) or yields non-finite values stay as they are,
 * so the error or value still appears at run time.
 */
const foldConstant = rule(
  'fold-constant',
  pat.any(),
  (_, ctx) => {
    const node = ctx.node(ctx.root);
    if (SOURCES_KEPT.has(node.op)) return undefined;
    const def = getOp(node.op);
    if (!def.evaluate) return undefined;
    const shape = node.type.shape;
    if (!shape.every((d): d is number => typeof d === 'number') || sizeOf(shape) > MAX_FOLDED_ELEMENTS) return undefined;
    const inputs = node.inputs.map((i) => ctx.node(i));
    if (!inputs.every((n) => n.op === 'constant')) return undefined;
    let value: NDArray;
    try {
      value = def.evaluate(inputs.map(constantValue), node.attrs, { precision: 'f64', outShape: shape });
    } catch (e) {
      if (e instanceof LoomError) return undefined;
      throw e;
    }
    const values = Array.from(value.data);
    if (!values.every(Number.isFinite)) return undefined;
    return addConstant(ctx, values, shape, node);
  },
);

function constantValue(node: NodeView): NDArray {
  const shape = node.type.shape as readonly number[];
  const values = node.attrs['values'] as readonly number[];
  const data = values.length === 1 ? new Array<number>(sizeOf(shape)).fill(values[0]!) : values;
  return ndarray(node.type.dtype, shape, data, 'f64');
}

/** A constant of one value when all elements agree (the compact form CSE and patterns recognize). */
function addConstant(ctx: RewriteContext, values: readonly number[], shape: readonly number[], node: NodeView): number {
  const uniform = values.length > 0 && values.every((v) => Object.is(v, values[0]));
  // a zero-size result still needs one value in the attribute
  const stored = values.length === 0 ? [0] : uniform ? [values[0]!] : values;
  return ctx.constant(stored, shape, node.type.dtype);
}

export const foldConstantRules = [foldConstant];

export const foldConstants = rewritePass(
  'fold-constants',
  `evaluate nodes whose inputs are all constants (results up to ${MAX_FOLDED_ELEMENTS} elements)`,
  foldConstantRules,
);

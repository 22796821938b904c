import type { Expr } from '@loom/graph';
import { GLSL } from '../../expr/languages/glsl.ts';
import { primitiveExpr } from '../../expr/primitive-expr.ts';
import { renderExpr } from '../../expr/render-expr.ts';
import { broadcastOffset } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';

/**
 * out[i] = expr(inputs broadcast to out): one fragment per element. Serves `fused_elementwise` and
 * every plain elementwise node of the op table (rendered as a one-op expression).
 */
export function renderElementwise(ctx: KernelContext, expr: Expr): GlPass[] {
  const out = ctx.output.shape;
  const size = sizeOfShape(out);
  if (size === 0) return [];
  const loads = ctx.inputs.flatMap((x, k) => {
    const { lines, offset } = broadcastOffset('i', x.shape, out, `b${k}_`);
    return [...lines, `float x${k} = ${sample(k, offset)};`];
  });
  const rendered = renderExpr(GLSL, expr, ctx.inputs.map((x, k) => ({ value: `x${k}`, dtype: x.dtype })));
  return [
    {
      inputs: ctx.inputs.map((_, k) => input(k)),
      size,
      helpers: rendered.helpers,
      body: [...loads, ...rendered.statements, `return ${rendered.result};`],
      what: ctx.node.op,
    },
  ];
}

export const fusedElementwiseKernel = (ctx: KernelContext<'fused_elementwise'>): GlPass[] => renderElementwise(ctx, ctx.attrs.expr);

/** A plain elementwise op (add, exp, less, where, cast, ...) as a one-op expression. */
export const primitiveElementwiseKernel = (ctx: KernelContext): GlPass[] => renderElementwise(ctx, primitiveExpr(ctx.node));

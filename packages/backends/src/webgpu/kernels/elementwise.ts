import type { Expr } from '@loom/graph';
import { input, OUTPUT, sizeOfShape, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { WGSL } from '../../expr/languages/wgsl.ts';
import { primitiveExpr } from '../../expr/primitive-expr.ts';
import { renderExpr } from '../../expr/render-expr.ts';
import { entryPoint, linearGrid, Params, storageDecl } from '../wgsl.ts';
import { classifyAccess, renderBroadcastOffsets } from './broadcast.ts';

const WORKGROUP = 256;

/**
 * out[i] = expr(inputs broadcast to out), one thread per element. Serves `fused_elementwise` and
 * every plain elementwise node of the op table (rendered as a one-op expression).
 */
export function renderElementwise(ctx: KernelContext, expr: Expr): KernelLaunch[] {
  const total = sizeOfShape(ctx.output.shape);
  if (total === 0) return [];
  const params = new Params().u32('n', total);
  const inputs = ctx.inputs.map((x) => ({ shape: x.shape, access: classifyAccess(x.shape, ctx.output.shape) }));
  const offsets = renderBroadcastOffsets('i', inputs, ctx.output.shape, params, '');
  const loads = ctx.inputs.map((x, k) => `let x${k} = in${k}[o${k}];`);
  const rendered = renderExpr(WGSL, expr, ctx.inputs.map((x, k) => ({ value: `x${k}`, dtype: x.dtype })));
  const wgsl = [
    ...ctx.inputs.map((x, k) => storageDecl(k, `in${k}`, x.dtype, 'read')),
    storageDecl(ctx.inputs.length, 'out', ctx.output.dtype, 'read_write'),
    params.declare(ctx.inputs.length + 1),
    ...rendered.helpers,
    entryPoint(WORKGROUP),
    `  let i = wg * ${WORKGROUP}u + lid;`,
    '  if (i >= p.n) { return; }',
    ...[...offsets, ...loads, ...rendered.statements].map((l) => `  ${l}`),
    `  out[i] = ${rendered.result};`,
    '}',
  ].join('\n');
  return [
    {
      wgsl,
      workgroups: linearGrid(Math.ceil(total / WORKGROUP), ctx.limits, ctx.node.op),
      bindings: [...ctx.inputs.map((_, k) => ({ buffer: input(k) })), { buffer: OUTPUT }],
      params: params.data(),
    },
  ];
}

export const fusedElementwiseKernel = (ctx: KernelContext<'fused_elementwise'>): KernelLaunch[] => renderElementwise(ctx, ctx.attrs.expr);

/** A plain elementwise op (add, exp, less, where, cast, ...) as a one-op expression. */
export const primitiveElementwiseKernel = (ctx: KernelContext): KernelLaunch[] =>
  renderElementwise(ctx, primitiveExpr(ctx.node));

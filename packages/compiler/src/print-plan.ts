import { formatExpr, formatShape, type Expr } from '@loom/graph';
import type { Plan } from './plan.ts';

export { formatExpr };

/**
 * The plan as text: buffers, then one line per kernel, e.g.
 *   k3  %15 fused_matmul(b2, b5, b6) -> b7  f32[batch, seq, 2304]  epilogue: add(in0, in1)
 */
export function printPlan(plan: Plan): string {
  const lines = ['buffers:'];
  for (const b of plan.buffers) lines.push(`  b${b.id}  ${b.kind.padEnd(12)} ${b.dtype}[${b.size}]${b.name ? `  '${b.name}'` : ''}`);
  lines.push('kernels:');
  plan.steps.forEach((step, k) => {
    const node = plan.graph.nodes[step.node]!;
    const a = node.attrs as Record<string, unknown>;
    const extra = node.op === 'fused_elementwise' ? `  expr: ${formatExpr(a['expr'] as Expr)}` : node.op === 'fused_matmul' || node.op === 'fused_matmul_rope' || node.op === 'quantized_matmul' ? `  epilogue: ${formatExpr(a['epilogue'] as Expr)}${a['transposeB'] ? '  (B transposed)' : ''}` : '';
    const inPlace = step.inPlace ? ' (in place)' : '';
    lines.push(`  k${k}  %${node.id} ${node.op}(${step.inputs.map((b) => `b${b}`).join(', ')}) -> b${step.output}${inPlace}  ${node.type.dtype}${formatShape(node.type.shape)}${extra}`);
  });
  const s = plan.stats;
  lines.push(`${s.kernels} kernels; ${s.nodesBefore} nodes before, ${s.nodesAfter} after; intermediates ${s.plannedBytes} bytes planned vs ${s.naiveBytes} naive at ${JSON.stringify(s.bindings)}`);
  return lines.join('\n');
}

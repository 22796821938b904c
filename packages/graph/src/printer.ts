import type { Graph, GraphNode } from './graph.ts';
import { formatType } from './tensor-type.ts';

/**
 * One line per node, e.g.
 *   %7 = matmul(%5, %6) {transposeB: true} : f32[batch, seq, 64]  # packages/models/src/gpt2.ts:41
 */
export function printGraph(graph: Graph): string {
  const lines = graph.nodes.map(printNode);
  lines.push(`return ${graph.outputs.map((o) => `${o.name} = %${o.node}`).join(', ')}`);
  return lines.join('\n');
}

export function printNode(node: GraphNode): string {
  const { name, ...rest } = node.attrs as Record<string, unknown>;
  const args = node.inputs.map((i) => `%${i}`).join(', ');
  const shown = node.op === 'input' || node.op === 'param' ? {} : rest;
  const attrs = Object.entries(shown)
    .map(([k, v]) => `${k}: ${formatAttr(v)}`)
    .join(', ');
  const label = typeof name === 'string' ? ` "${name}"` : '';
  const where = node.source ? `  # ${node.source}` : '';
  const call = node.inputs.length > 0 ? `(${args})` : '';
  return `%${node.id} = ${node.op}${label}${call}${attrs ? ` {${attrs}}` : ''} : ${formatType(node.type)}${where}`;
}

function formatAttr(value: unknown): string {
  if (Array.isArray(value)) {
    const items = value.length > 8 ? [...value.slice(0, 8).map(formatAttr), `... ${value.length} items`] : value.map(formatAttr);
    return `[${items.join(', ')}]`;
  }
  // objects: a fused op's expression, e.g. {op: 'add', args: [{in: 0}, {const: 1, dtype: 'f32'}]}
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${k}: ${formatAttr(v)}`).join(', ')}}`;
  }
  return typeof value === 'string' ? `'${value}'` : String(value);
}

import { z } from 'zod';
import { GraphFormatError } from './errors.ts';
import type { Graph } from './graph.ts';
import { isOpName, OPS } from './op-table.ts';
import { dtypeSchema, shapeSchema } from './ops/schemas.ts';
import { verifyGraph } from './verify.ts';

/** The JSON envelope of a serialized graph. Non-finite numbers and -0 are written as {"$number": "-Infinity"}. */
const graphJsonSchema = z
  .object({
    format: z.literal('loom-graph'),
    version: z.literal(1),
    nodes: z.array(
      z
        .object({
          id: z.number().int().nonnegative(),
          op: z.string(),
          inputs: z.array(z.number().int()),
          attrs: z.record(z.string(), z.unknown()),
          type: z.object({ dtype: dtypeSchema, shape: shapeSchema }).strict(),
          source: z.string().optional(),
        })
        .strict(),
    ),
    outputs: z.array(z.object({ name: z.string().min(1), node: z.number().int() }).strict()),
  })
  .strict();

const NON_FINITE = '$number';

export function graphToJson(graph: Graph): string {
  return JSON.stringify({ format: 'loom-graph', version: 1, nodes: graph.nodes, outputs: graph.outputs }, (_key, value: unknown) =>
    typeof value === 'number' && (!Number.isFinite(value) || Object.is(value, -0)) ? { [NON_FINITE]: Object.is(value, -0) ? '-0' : String(value) } : value,
  );
}

/** Parses and verifies a graph. Malformed input gets a GraphFormatError naming the JSON path. */
export function graphFromJson(text: string): Graph {
  let raw: unknown;
  try {
    raw = JSON.parse(text, (_key, value: unknown) => {
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        const keys = Object.keys(value);
        const v = (value as Record<string, unknown>)[NON_FINITE];
        if (keys.length === 1 && (v === 'Infinity' || v === '-Infinity' || v === 'NaN' || v === '-0')) return Number(v);
      }
      return value;
    });
  } catch (e) {
    throw new GraphFormatError('$', `not valid JSON: ${(e as Error).message}`);
  }
  const parsed = graphJsonSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new GraphFormatError(jsonPath(issue.path), issue.message);
  }
  // fill in defaulted attributes (a hand-written graph may omit them), as GraphBuilder does
  const nodes = parsed.data.nodes.map((node) => {
    const attrs = isOpName(node.op) ? OPS[node.op].attrs.safeParse(node.attrs) : undefined;
    return attrs?.success ? { ...node, attrs: attrs.data as Record<string, unknown> } : node;
  });
  const graph: Graph = { nodes, outputs: parsed.data.outputs };
  verifyGraph(graph);
  return graph;
}

function jsonPath(path: readonly PropertyKey[]): string {
  return '$' + path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
}

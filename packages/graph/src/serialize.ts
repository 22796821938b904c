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

/**
 * How deep arrays and objects may nest in a graph file. A real graph needs about a dozen levels (an
 * expression tree of a fused kernel adds its own depth); the checks after parsing recurse, so a file
 * nested thousands deep would overflow the stack instead of getting a message.
 */
export const MAX_JSON_DEPTH = 256;

/** The first place where `text` nests deeper than `limit` (byte offset and a JSON-ish path of kinds), or undefined. */
function tooDeep(text: string, limit: number): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 34 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 34; i++) if (text.charCodeAt(i) === 92 /* \ */) i++;
    } else if (ch === 123 || ch === 91 /* { [ */) {
      if (++depth > limit) return i;
    } else if (ch === 125 || ch === 93 /* } ] */) depth--;
  }
  return undefined;
}

/** Parses and verifies a graph. Malformed input gets a GraphFormatError naming the JSON path. */
export function graphFromJson(text: string): Graph {
  const deep = tooDeep(text, MAX_JSON_DEPTH);
  if (deep !== undefined) throw new GraphFormatError('$', `nested more than ${MAX_JSON_DEPTH} levels deep (at character ${deep}); a graph needs far fewer (an expression tree too deep to check)`);
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

import { GraphFormatError, GraphTypeError } from './errors.ts';
import type { Graph } from './graph.ts';
import { TypeRuleError } from './op-def.ts';
import { isOpName, OPS } from './op-table.ts';
import { formatType, typeEquals, type TensorType } from './tensor-type.ts';

/**
 * Checks the invariants every pass must keep: ids equal positions, inputs come earlier (topological
 * order), ops exist, attributes fit their schemas, stored types equal what the type rules infer,
 * input and param names are unique, outputs exist. Throws a GraphFormatError with a JSON path.
 */
export function verifyGraph(graph: Graph): void {
  const names = new Map<string, number>();
  graph.nodes.forEach((node, index) => {
    const at = `$.nodes[${index}]`;
    if (node.id !== index) throw new GraphFormatError(`${at}.id`, `id ${node.id} should equal its position ${index}`);
    if (!isOpName(node.op)) throw new GraphFormatError(`${at}.op`, `unknown op '${node.op}'`);
    const def = OPS[node.op] as (typeof OPS)[keyof typeof OPS] & { attrs: { safeParse(v: unknown): { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } } } };
    node.inputs.forEach((input, k) => {
      if (!Number.isInteger(input) || input < 0 || input >= index) {
        throw new GraphFormatError(`${at}.inputs[${k}]`, `refers to node ${input}, which is not an earlier node`);
      }
    });
    const parsed = def.attrs.safeParse(node.attrs);
    if (!parsed.success) {
      const issue = parsed.error!.issues[0]!;
      const inAttrs = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      throw new GraphFormatError(`${at}.attrs${inAttrs}`, issue.message);
    }
    const inputTypes = node.inputs.map((i) => graph.nodes[i]!.type);
    let inferred: TensorType;
    try {
      const arityOk = def.variadic ? inputTypes.length >= def.minInputs : inputTypes.length >= def.minInputs && inputTypes.length <= def.inputs.length;
      if (!arityOk) throw new TypeRuleError(`${inputTypes.length} inputs, expects ${def.inputs.join(', ')}`);
      inferred = (def.infer as (i: TensorType[], a: unknown) => TensorType)(inputTypes, node.attrs);
    } catch (e) {
      if (e instanceof TypeRuleError || e instanceof GraphTypeError) throw new GraphFormatError(at, `${node.op}: ${e.message}`);
      throw e;
    }
    if (!typeEquals(inferred, node.type)) {
      throw new GraphFormatError(`${at}.type`, `${node.op}: stored type ${formatType(node.type)} differs from inferred ${formatType(inferred)}`);
    }
    if (node.op === 'input' || node.op === 'param') {
      const key = `${node.op}:${String(node.attrs['name'])}`;
      const prev = names.get(key);
      if (prev !== undefined) throw new GraphFormatError(`${at}.attrs.name`, `${node.op} '${String(node.attrs['name'])}' is also node ${prev}`);
      names.set(key, index);
    }
  });
  if (graph.outputs.length === 0) throw new GraphFormatError('$.outputs', 'a graph needs at least one output');
  const outNames = new Set<string>();
  graph.outputs.forEach((o, k) => {
    if (!Number.isInteger(o.node) || o.node < 0 || o.node >= graph.nodes.length) {
      throw new GraphFormatError(`$.outputs[${k}].node`, `refers to node ${o.node}, which does not exist`);
    }
    if (outNames.has(o.name)) throw new GraphFormatError(`$.outputs[${k}].name`, `output '${o.name}' appears twice`);
    outNames.add(o.name);
  });
}

import type { DType } from './dtype.ts';
import { GraphTypeError } from './errors.ts';
import type { Graph, GraphNode } from './graph.ts';
import { TypeRuleError, type NodeRef, type OpDef, type OpEmitter } from './op-def.ts';
import { getOp, type OpName } from './op-table.ts';
import type { Shape } from './shape.ts';
import { captureSource } from './source-location.ts';
import { formatType, typeEquals, type TensorType } from './tensor-type.ts';

export type { NodeRef };

/**
 * Builds graphs node by node: validates attributes against the op's schema, runs its type rule and
 * records the model source line. This is the untyped core; `typed-builder.ts` puts dtype and shape
 * into TypeScript types on top of it, and passes use it to emit rewritten graphs.
 */
export class GraphBuilder implements OpEmitter {
  private readonly nodes: GraphNode[] = [];
  private readonly named = new Map<string, NodeRef>();

  /** Appends a node. `source` overrides the captured call site (passes keep the original node's). */
  add(op: OpName | string, inputs: readonly NodeRef[], attrs: Record<string, unknown> = {}, source?: string): NodeRef {
    const def = getOp(op);
    const where = source ?? captureSource();
    const inputTypes = inputs.map((ref, i) => {
      const node = this.nodes[ref];
      if (node === undefined) throw new GraphTypeError(`${op}: input ${i} refers to node ${ref}, which does not exist${at(where)}`);
      return node.type;
    });
    const parsedAttrs = parseAttrs(def, attrs, where);
    const type = inferType(def, inputTypes, parsedAttrs, where);
    const id = this.nodes.length;
    const node: GraphNode = { id, op: def.name, inputs: [...inputs], attrs: parsedAttrs, type, ...(where ? { source: where } : {}) };
    this.nodes.push(node);
    return id;
  }

  /** A named graph input. Its symbolic dimensions are bound when the graph runs. */
  input(name: string, dtype: DType, shape: Shape): NodeRef {
    return this.named_('input', name, dtype, shape);
  }

  /** A named weight. Declaring the same name twice with the same type returns the same node (tied weights). */
  param(name: string, dtype: DType, shape: Shape): NodeRef {
    return this.named_('param', name, dtype, shape);
  }

  /** A scalar or small constant tensor, stored in the graph. */
  constant(value: number | readonly number[], shape: Shape = [], dtype: DType = 'f32'): NodeRef {
    const values = typeof value === 'number' ? [value] : [...value];
    return this.add('constant', [], { dtype, shape, values });
  }

  typeOf(ref: NodeRef): TensorType {
    const node = this.nodes[ref];
    if (!node) throw new GraphTypeError(`node ${ref} does not exist`);
    return node.type;
  }

  node(ref: NodeRef): GraphNode {
    const node = this.nodes[ref];
    if (!node) throw new GraphTypeError(`node ${ref} does not exist`);
    return node;
  }

  get size(): number {
    return this.nodes.length;
  }

  build(outputs: Readonly<Record<string, NodeRef>>): Graph {
    const list = Object.entries(outputs).map(([name, node]) => {
      if (this.nodes[node] === undefined) throw new GraphTypeError(`output '${name}' refers to node ${node}, which does not exist`);
      return { name, node };
    });
    if (list.length === 0) throw new GraphTypeError('a graph needs at least one output');
    return { nodes: [...this.nodes], outputs: list };
  }

  private named_(op: 'input' | 'param', name: string, dtype: DType, shape: Shape): NodeRef {
    const key = `${op}:${name}`;
    const existing = this.named.get(key);
    const where = captureSource();
    if (existing !== undefined) {
      const prev = this.nodes[existing]!;
      const wanted: TensorType = { dtype, shape };
      if (typeEquals(prev.type, wanted)) return existing;
      throw new GraphTypeError(
        `${op} '${name}' declared twice with different types: ${formatType(prev.type)} and ${formatType(wanted)}${at(where)}`,
      );
    }
    const ref = this.add(op, [], { name, dtype, shape }, where);
    this.named.set(key, ref);
    return ref;
  }
}

function at(where: string | undefined): string {
  return where ? ` (at ${where})` : '';
}

/**
 * Attribute objects this module's parsing produced, with the op they were parsed for. A pass that
 * emits a node again with the attributes the node already has (working-graph.ts's toGraph does so
 * for every node at every rewrite) skips parsing them once more: most of what compiling spent in
 * the schemas. Parsed attributes are frozen (shallowly): nothing changes them after parsing.
 */
const parsedFor = new WeakMap<object, OpDef>();

function parseAttrs(def: OpDef, attrs: Record<string, unknown>, where: string | undefined): Record<string, unknown> {
  if (parsedFor.get(attrs) === def) return attrs;
  const result = def.attrs.safeParse(attrs);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const path = ['attrs', ...issue.path.map(String)].join('.');
    throw new GraphTypeError(`${def.name}: invalid ${path}: ${issue.message}${at(where)}`);
  }
  const parsed = result.data as Record<string, unknown>;
  // only an object the schema made (one the caller still holds could change before its next use),
  // frozen: a node's attributes are shared by the graphs a compile makes from it
  if (parsed !== attrs) parsedFor.set(Object.freeze(parsed), def);
  return parsed;
}

function inferType(def: OpDef, inputs: readonly TensorType[], attrs: unknown, where: string | undefined): TensorType {
  // only formatted on failure: building a graph of thousands of nodes should not print them all
  const shown = () => inputs.map(formatType).join(', ');
  const arityOk = def.variadic ? inputs.length >= def.minInputs : inputs.length >= def.minInputs && inputs.length <= def.inputs.length;
  if (!arityOk) {
    const expected = def.variadic ? `at least ${def.minInputs}` : def.minInputs === def.inputs.length ? `${def.minInputs}` : `${def.minInputs} to ${def.inputs.length}`;
    throw new GraphTypeError(`${def.name}: expects ${expected} inputs (${def.inputs.join(', ')}), got ${inputs.length} [${shown()}]${at(where)}`);
  }
  try {
    return def.infer(inputs, attrs);
  } catch (e) {
    if (e instanceof TypeRuleError || e instanceof GraphTypeError) {
      throw new GraphTypeError(`${def.name}: ${e.message}; inputs: (${shown()})${at(where)}`);
    }
    throw e;
  }
}

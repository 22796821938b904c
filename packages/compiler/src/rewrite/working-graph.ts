import {
  formatType,
  getOp,
  GraphBuilder,
  GraphTypeError,
  printNode,
  TypeRuleError,
  typeEquals,
  type DType,
  type Graph,
  type GraphNode,
  type GraphOutput,
  type NodeRef,
  type Shape,
  type TensorType,
} from '@loom/graph';
import type { GraphView, NodeView } from './pattern.ts';

/**
 * The mutable graph a rewrite works on. Nodes are only appended (new ones validated and typed by the
 * op table, like GraphBuilder does); replacing a node forwards it to its replacement, and
 * readers see their inputs resolved through the forwarding. Read counts are kept up to date, so a
 * node that loses its last reader releases its own inputs (dead code disappears as rules fire, and
 * "has one user" conditions see the current graph). `toGraph` emits a clean graph.
 *
 * Nothing here mutates the graph it was loaded from.
 */
export class WorkingGraph implements GraphView {
  /** Loaded nodes as they were (already typed), then the nodes rules added; index = id. */
  private readonly nodes: GraphNode[] = [];
  /** forward[id] === id for a node not replaced; else the node that replaced it. */
  private readonly forward: number[] = [];
  private readonly useCount: number[] = [];
  /** Whether a node's reads of its inputs have been withdrawn (it died). */
  private readonly released: boolean[] = [];
  /** Where a node goes in the emitted order: originals keep their index, new nodes take their rule's root's. */
  private readonly position: number[] = [];
  private readonly outputList: GraphOutput[];
  /** The loaded graph, returned as is by toGraph when nothing changed and nothing was dead. */
  private loaded: Graph | undefined;
  private changed = false;
  /** The position given to nodes added now (set by the rewrite driver). */
  anchor = 0;

  private constructor(outputs: readonly GraphOutput[]) {
    this.outputList = outputs.map((o) => ({ ...o }));
  }

  /** Loads a graph. Only nodes that reach an output count as readers; the rest start out dead. */
  static from(graph: Graph): WorkingGraph {
    const g = new WorkingGraph(graph.outputs);
    for (const node of graph.nodes) {
      g.nodes.push(node);
      g.forward.push(node.id);
      g.useCount.push(0);
      g.released.push(true);
      g.position.push(node.id);
    }
    const live = new Array<boolean>(graph.nodes.length).fill(false);
    for (const o of graph.outputs) live[o.node] = true;
    for (let i = graph.nodes.length - 1; i >= 0; i--) {
      if (!live[i]) continue;
      g.released[i] = false;
      for (const input of graph.nodes[i]!.inputs) {
        live[input] = true;
        g.useCount[input]!++;
      }
    }
    for (const o of graph.outputs) g.useCount[o.node]!++;
    if (graph.nodes.every((n, i) => live[i] || n.op === 'input')) g.loaded = graph;
    return g;
  }

  /** The node a reference stands for now (following replacements). */
  resolve(ref: NodeRef): NodeRef {
    let r = ref;
    while (this.forward[r] !== r) r = this.forward[r]!;
    // path compression: later lookups take one step
    let s = ref;
    while (this.forward[s] !== r) {
      const next = this.forward[s]!;
      this.forward[s] = r;
      s = next;
    }
    return r;
  }

  node(ref: NodeRef): NodeView {
    const id = this.resolve(ref);
    const n = this.nodeAt(id);
    return { id, op: n.op, inputs: n.inputs.map((i) => this.resolve(i)), attrs: n.attrs, type: n.type, ...(n.source ? { source: n.source } : {}) };
  }

  uses(ref: NodeRef): number {
    return this.useCount[this.resolve(ref)]!;
  }

  typeOf(ref: NodeRef): TensorType {
    return this.nodeAt(this.resolve(ref)).type;
  }

  /** Read by some live node or an output, and not replaced. Inputs of the graph always count as live. */
  isLive(ref: NodeRef): boolean {
    return this.forward[ref] === ref && (this.useCount[ref]! > 0 || this.nodeAt(ref).op === 'input');
  }

  get size(): number {
    return this.forward.length;
  }

  /**
   * Appends a node, its attributes checked and its type inferred by the op table; its inputs gain a
   * reader. It starts with no readers itself.
   */
  add(op: string, inputs: readonly NodeRef[], attrs: Record<string, unknown> = {}, source = ''): NodeRef {
    const resolved = inputs.map((i) => this.resolve(i));
    const def = getOp(op);
    const inputTypes = resolved.map((i) => this.nodeAt(i).type);
    const arityOk = def.variadic ? inputTypes.length >= def.minInputs : inputTypes.length >= def.minInputs && inputTypes.length <= def.inputs.length;
    if (!arityOk) throw new GraphTypeError(`${op}: a rewrite gave ${inputTypes.length} inputs (${def.inputs.join(', ')})`);
    const parsed = def.attrs.safeParse(attrs);
    if (!parsed.success) throw new GraphTypeError(`${op}: a rewrite gave invalid attributes: ${parsed.error.issues[0]!.message}`);
    let type: TensorType;
    try {
      type = def.infer(inputTypes, parsed.data);
    } catch (e) {
      if (e instanceof TypeRuleError) throw new GraphTypeError(`${op}: ${e.message}; inputs: (${inputTypes.map(formatType).join(', ')})`);
      throw e;
    }
    const id = this.nodes.length;
    this.changed = true;
    this.nodes.push({ id, op: def.name, inputs: resolved, attrs: parsed.data as Record<string, unknown>, type, ...(source ? { source } : {}) });
    this.forward.push(id);
    this.useCount.push(0);
    this.released.push(false);
    this.position.push(this.anchor);
    for (const i of resolved) this.useCount[i]!++;
    return id;
  }

  constant(value: number | readonly number[], shape: Shape = [], dtype: DType = 'f32', source = ''): NodeRef {
    return this.add('constant', [], { dtype, shape: [...shape], values: typeof value === 'number' ? [value] : [...value] }, source);
  }

  /**
   * Replaces `root` by `replacement` everywhere (readers and outputs). They must have the same type:
   * a rule that changes a value's type is a bug, reported with both nodes.
   */
  replace(root: NodeRef, replacement: NodeRef): void {
    const from = this.resolve(root);
    const to = this.resolve(replacement);
    if (from === to) return;
    const [a, b] = [this.nodeAt(from), this.nodeAt(to)];
    if (!typeEquals(a.type, b.type)) {
      throw new Error(`rewrite changed a type: ${formatType(a.type)} -> ${formatType(b.type)}\n  ${printNode(a)}\n  ${printNode(b)}`);
    }
    this.forward[from] = to;
    this.changed = true;
    // readers move first, so a replacement that is one of root's inputs never drops to zero readers
    this.useCount[to]! += this.useCount[from]!;
    this.useCount[from] = 0;
    this.release(from);
  }

  /** Withdraws the reads of nodes added since `mark` that nothing reads (a rule built and then dropped them). */
  collectFrom(mark: number): void {
    for (let id = this.forward.length - 1; id >= mark; id--) {
      if (this.forward[id] === id && this.useCount[id] === 0) this.release(id);
    }
  }

  /** Live nodes, inputs before readers, in the order `toGraph` emits them. */
  order(): NodeRef[] {
    const ids = [...this.forward.keys()].filter((id) => this.isLive(id));
    ids.sort((a, b) => this.position[a]! - this.position[b]! || a - b);
    const emitted = new Uint8Array(this.forward.length);
    const out: NodeRef[] = [];
    // iterative DFS: a node is emitted after its (resolved) inputs
    const stack: [NodeRef, boolean][] = [];
    for (const start of ids) {
      if (emitted[start]) continue;
      stack.push([start, false]);
      while (stack.length > 0) {
        const [id, expanded] = stack.pop()!;
        if (emitted[id]) continue;
        if (expanded) {
          emitted[id] = 1;
          out.push(id);
          continue;
        }
        stack.push([id, true]);
        const inputs = this.nodeAt(id).inputs;
        for (let k = inputs.length - 1; k >= 0; k--) {
          const r = this.resolve(inputs[k]!);
          if (!emitted[r]) stack.push([r, false]);
        }
      }
    }
    return out;
  }

  /**
   * A clean graph through a fresh GraphBuilder: only live nodes, ids compact, topological order close
   * to the original, every node's source kept, graph inputs kept even when unread (they are the
   * graph's signature). When no rule changed anything and the loaded graph was already clean, that
   * graph itself (nothing is ever written into it).
   */
  toGraph(): Graph {
    // unchanged and already clean (GraphBuilder-built, no dead nodes): the rebuild would be an equal copy
    if (!this.changed && this.loaded && isClean(this.loaded)) return this.loaded;
    const b = new GraphBuilder();
    const map = new Map<NodeRef, NodeRef>();
    for (const id of this.order()) {
      const n = this.nodeAt(id);
      map.set(id, b.add(n.op, n.inputs.map((i) => map.get(this.resolve(i))!), n.attrs, n.source ?? ''));
    }
    return b.build(Object.fromEntries(this.outputList.map((o) => [o.name, map.get(this.resolve(o.node))!])));
  }

  private nodeAt(id: NodeRef): GraphNode {
    return this.nodes[id]!;
  }

  private release(start: NodeRef): void {
    const stack = [start];
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (this.released[id]) continue;
      this.released[id] = true;
      for (const i of this.nodeAt(id).inputs) {
        const r = this.resolve(i);
        this.useCount[r]!--;
        if (this.useCount[r] === 0 && this.forward[r] === r) stack.push(r);
      }
    }
  }
}

/** Ids are positions and inputs come earlier: what a rebuild would produce, in the same order. */
function isClean(graph: Graph): boolean {
  return graph.nodes.every((n, i) => n.id === i && n.inputs.every((input) => input < i));
}

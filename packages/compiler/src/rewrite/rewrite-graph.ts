import type { DType, Graph, NodeRef, Shape, TensorType } from '@loom/graph';
import { matchPattern, type AnyPattern, type Captures, type GraphView, type NodeView } from './pattern.ts';
import { WorkingGraph } from './working-graph.ts';

/** What a rule's rewrite function may do besides reading captures: inspect nodes and emit new ones. */
export interface RewriteContext extends GraphView {
  /** The node the pattern matched (the one being replaced). */
  readonly root: NodeRef;
  typeOf(ref: NodeRef): TensorType;
  /** Adds a node (typed by the op table); it takes the root's source location. */
  add(op: string, inputs: readonly NodeRef[], attrs?: Record<string, unknown>): NodeRef;
  constant(value: number | readonly number[], shape?: Shape, dtype?: DType): NodeRef;
}

/**
 * One rewrite: where `pattern` matches, `rewrite` returns the node that replaces the match's root
 * (an existing node such as a capture, or one built through the context), or undefined for "no match
 * after all". The replacement must have the root's type.
 */
export interface Rule<P extends AnyPattern = AnyPattern> {
  readonly name: string;
  readonly pattern: P;
  readonly rewrite: (captures: Captures<P>, ctx: RewriteContext) => NodeRef | undefined;
}

/** Defines a rule; the rewrite function's captures are typed from the pattern. */
export function rule<const P extends AnyPattern>(name: string, pattern: P, rewrite: (captures: Captures<P>, ctx: RewriteContext) => NodeRef | undefined): Rule {
  return { name, pattern, rewrite } as unknown as Rule;
}

export interface RewriteOptions {
  /** Sweeps over the graph before giving up on reaching a fixpoint (a rule set that never settles is a bug). */
  readonly maxSweeps?: number;
  /** Called after each rule application (for tracing and tests). */
  readonly onRewrite?: (rule: string, root: NodeView, replacement: NodeView) => void;
}

/** Rewrites applied to one node in a row before the driver suspects a cycle. */
const MAX_REWRITES_PER_NODE = 1000;

/**
 * Applies `rules` to the whole graph until none matches: sweeps visit nodes inputs-first (so a
 * rule sees its inputs already rewritten, and a replacement is offered to the rules again at once),
 * and sweeps repeat until one changes nothing. Returns a clean graph: dead nodes dropped, ids compact,
 * topological order, sources kept. The input graph is not modified.
 */
export function rewriteGraph(graph: Graph, rules: readonly Rule[], options: RewriteOptions = {}): Graph {
  const g = WorkingGraph.from(graph);
  applyRules(g, rules, options);
  return g.toGraph();
}

/** The fixpoint driver on a working graph; returns the number of rewrites applied. */
export function applyRules(g: WorkingGraph, rules: readonly Rule[], options: RewriteOptions = {}): number {
  const index = indexRules(rules);
  const maxSweeps = options.maxSweeps ?? 100;
  let total = 0;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let changed = 0;
    for (const start of g.order()) {
      if (!g.isLive(start)) continue;
      let current = start;
      for (let steps = 0; ; steps++) {
        if (steps > MAX_REWRITES_PER_NODE) throw new Error(`rewrite: rules keep rewriting node %${start} (${g.node(current).op}); they do not terminate`);
        const next = rewriteOnce(g, index, current, start, options);
        if (next === undefined) break;
        current = next;
        changed++;
      }
    }
    total += changed;
    if (changed === 0) return total;
  }
  throw new Error(`rewrite: no fixpoint after ${maxSweeps} sweeps; the rules do not terminate`);
}

interface RuleIndex {
  readonly byOp: ReadonlyMap<string, readonly Rule[]>;
  /** Rules whose pattern does not fix the root's op (tried on every node, after the op's own). */
  readonly anyOp: readonly Rule[];
}

function indexRules(rules: readonly Rule[]): RuleIndex {
  const byOp = new Map<string, Rule[]>();
  const anyOp: Rule[] = [];
  for (const r of rules) {
    if (!r.pattern.ops) anyOp.push(r);
    else for (const op of r.pattern.ops) byOp.set(op, [...(byOp.get(op) ?? []), r]);
  }
  return { byOp, anyOp };
}

function rewriteOnce(g: WorkingGraph, index: RuleIndex, root: NodeRef, anchorOf: NodeRef, options: RewriteOptions): NodeRef | undefined {
  const op = g.node(root).op;
  for (const r of [...(index.byOp.get(op) ?? []), ...index.anyOp]) {
    const captures = matchPattern(r.pattern, root, g);
    if (!captures) continue;
    const mark = g.size;
    g.anchor = anchorOf;
    const source = g.node(root).source ?? '';
    const ctx: RewriteContext = {
      root,
      node: (ref) => g.node(ref),
      uses: (ref) => g.uses(ref),
      typeOf: (ref) => g.typeOf(ref),
      add: (o, inputs, attrs = {}) => g.add(o, inputs, attrs, source),
      constant: (value, shape = [], dtype = 'f32') => g.constant(value, shape, dtype, source),
    };
    const out = r.rewrite(captures as never, ctx);
    if (out === undefined || g.resolve(out) === root) {
      g.collectFrom(mark);
      continue;
    }
    const before = options.onRewrite ? g.node(root) : undefined;
    g.replace(root, out);
    g.collectFrom(mark);
    if (before) options.onRewrite!(r.name, before, g.node(out));
    return g.resolve(out);
  }
  return undefined;
}

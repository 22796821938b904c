import { getOp, type NodeRef, type OpCategory, type TensorType } from '@loom/graph';

/**
 * Declarative patterns over graph nodes, in the spirit of tinygrad's UPat: a pattern says which op
 * (or op category) a node must have, which attributes, what its inputs must match, how many readers
 * it may have, and which nodes to capture by name. Matching backtracks (commutative inputs, `oneOf`),
 * and a name captured twice must bind the same node (`mul(x, x)`).
 *
 * Capture names are carried in the pattern's type, like zod carries a schema's type: a rule's rewrite
 * function gets `{ x: NodeRef }` for `pat.op('neg', [pat.var('x')])`, and names bound on only some
 * branches of a `oneOf` arrive as optional.
 */

/** A node as rules see it: inputs already resolved through earlier rewrites. */
export interface NodeView {
  readonly id: NodeRef;
  readonly op: string;
  readonly inputs: readonly NodeRef[];
  readonly attrs: Readonly<Record<string, unknown>>;
  readonly type: TensorType;
  readonly source?: string;
}

/** What a pattern may ask of the graph it matches against. */
export interface GraphView {
  node(ref: NodeRef): NodeView;
  /** How many times the node is read (each input slot and each graph output counts once). */
  uses(ref: NodeRef): number;
}

/**
 * R: names every match binds; O: names only some matches bind. Both exist only in the type system
 * (the phantom fields are never set).
 */
export interface Pattern<R extends string = never, O extends string = never> {
  /** The node's op must be one of these. */
  readonly ops?: readonly string[];
  /** The node's op must be of one of these categories (see OpCategory). */
  readonly categories?: readonly OpCategory[];
  /** Binds the matched node to this name. */
  readonly capture?: string;
  /** When given, the node must have exactly these many inputs, each matching its pattern. */
  readonly inputs?: readonly AnyPattern[];
  /** Also try the two inputs swapped (add, mul, maximum, ...). */
  readonly commutative?: boolean;
  /** Each listed attribute must equal (deeply) the given value. */
  readonly attrs?: Readonly<Record<string, unknown>>;
  /** The node must be a constant holding one value for every element (and equal to `value` if given). */
  readonly uniformConstant?: { readonly value?: number };
  /** At most this many reads of the node (graph outputs count). */
  readonly maxUses?: number;
  /** Match the first alternative that fits (with backtracking into the rest). */
  readonly oneOf?: readonly AnyPattern[];
  /** Any further condition. */
  readonly where?: (node: NodeView, graph: GraphView) => boolean;
  readonly __required?: R;
  readonly __optional?: O;
}

/** A pattern of any capture names; what containers of sub-patterns hold. */
export type AnyPattern = Pattern<any, any>;

type RequiredOf<P> = P extends Pattern<infer R, infer _O> ? R : never;
type OptionalOf<P> = P extends Pattern<infer _R, infer O> ? O : never;
type RequiredOfAll<P extends readonly AnyPattern[]> = RequiredOf<P[number]>;
type OptionalOfAll<P extends readonly AnyPattern[]> = OptionalOf<P[number]>;
/** Names every alternative binds: the intersection of the alternatives' required names. */
type RequiredOfEvery<P extends readonly AnyPattern[]> = P extends readonly [infer H, ...infer T extends readonly AnyPattern[]]
  ? T extends readonly [] ? RequiredOf<H> : RequiredOf<H> & RequiredOfEvery<T>
  : never;

/** The captures a rule receives for a pattern. */
export type Captures<P> = { readonly [K in RequiredOf<P>]: NodeRef } & { readonly [K in OptionalOf<P>]?: NodeRef };

export interface OpPatternOptions<C extends string> {
  readonly capture?: C;
  readonly attrs?: Readonly<Record<string, unknown>>;
  readonly commutative?: boolean;
  readonly maxUses?: number;
  readonly where?: (node: NodeView, graph: GraphView) => boolean;
}

/** Pattern constructors. */
export const pat = {
  /** Any node, captured as `name`. */
  var<const C extends string>(name: C): Pattern<NoInfer<C>> {
    return { capture: name };
  },

  /** Any node, not captured. */
  any(): Pattern {
    return {};
  },

  /** A node of `op` (or one of several ops) whose inputs match `inputs` (any inputs when omitted). */
  op<const I extends readonly AnyPattern[] = [], const C extends string = never>(
    op: string | readonly string[],
    inputs?: I,
    options: OpPatternOptions<C> = {},
  ): Pattern<RequiredOfAll<I> | NoInfer<C>, OptionalOfAll<I>> {
    return { ops: typeof op === 'string' ? [op] : op, ...(inputs ? { inputs } : {}), ...options };
  },

  /** A node whose op is of one of the categories ('elementwise', 'fused', ...). */
  category<const C extends string = never>(categories: OpCategory | readonly OpCategory[], options: OpPatternOptions<C> = {}): Pattern<NoInfer<C>> {
    return { categories: typeof categories === 'string' ? [categories] : categories, ...options };
  },

  /**
   * A constant with one value for all its elements (a scalar, or a filled tensor), equal to `value`
   * when given: `pat.constant(1)` matches the 1 of `x * 1`.
   */
  constant<const C extends string = never>(value?: number, capture?: C): Pattern<NoInfer<C>> {
    return { ops: ['constant'], uniformConstant: value === undefined ? {} : { value }, ...(capture ? { capture } : {}) };
  },

  /** The first alternative that matches. Names bound by every alternative are required, the rest optional. */
  oneOf<const P extends readonly AnyPattern[]>(...alternatives: P): Pattern<RequiredOfEvery<P>, Exclude<RequiredOfAll<P> | OptionalOfAll<P>, RequiredOfEvery<P>>> {
    return { oneOf: alternatives };
  },
};

/** The single value of a constant node filled with one value, else undefined. */
export function uniformValue(node: NodeView): number | undefined {
  if (node.op !== 'constant') return undefined;
  const values = node.attrs['values'] as readonly number[];
  const first = values[0]!;
  for (const v of values) if (!Object.is(v, first)) return undefined;
  return first;
}

type Bindings = Readonly<Record<string, NodeRef>>;

/** The first match of `pattern` at `ref`, or undefined. */
export function matchPattern<P extends AnyPattern>(pattern: P, ref: NodeRef, graph: GraphView): Captures<P> | undefined {
  for (const bindings of matches(pattern, ref, graph, {})) return bindings as Captures<P>;
  return undefined;
}

/** Every way `pattern` matches at `ref` (lazily, for backtracking). */
function* matches(p: AnyPattern, ref: NodeRef, graph: GraphView, bound: Bindings): Generator<Bindings> {
  if (p.capture !== undefined) {
    const prev = bound[p.capture];
    if (prev !== undefined && prev !== ref) return;
  }
  const node = graph.node(ref);
  if (p.ops && !p.ops.includes(node.op)) return;
  if (p.categories && !p.categories.includes(getOp(node.op).category)) return;
  if (p.maxUses !== undefined && graph.uses(ref) > p.maxUses) return;
  if (p.uniformConstant) {
    const v = uniformValue(node);
    if (v === undefined || (p.uniformConstant.value !== undefined && v !== p.uniformConstant.value)) return;
  }
  if (p.attrs && !Object.entries(p.attrs).every(([k, v]) => deepEqual(node.attrs[k], v))) return;
  if (p.where && !p.where(node, graph)) return;
  const here = p.capture !== undefined ? { ...bound, [p.capture]: ref } : bound;
  const alternatives = p.oneOf ?? [undefined];
  for (const alt of alternatives) {
    const afterAlt = alt ? matches(alt, ref, graph, here) : [here];
    for (const b of afterAlt) {
      if (!p.inputs) {
        yield b;
        continue;
      }
      if (node.inputs.length !== p.inputs.length) return;
      yield* matchInputs(p.inputs, node.inputs, graph, b);
      if (p.commutative && node.inputs.length === 2) yield* matchInputs(p.inputs, [node.inputs[1]!, node.inputs[0]!], graph, b);
    }
  }
}

function* matchInputs(patterns: readonly AnyPattern[], refs: readonly NodeRef[], graph: GraphView, bound: Bindings, from = 0): Generator<Bindings> {
  if (from === patterns.length) {
    yield bound;
    return;
  }
  for (const b of matches(patterns[from]!, refs[from]!, graph, bound)) yield* matchInputs(patterns, refs, graph, b, from + 1);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

import { expandOps, formatType, getOp, GraphBuilder, LoomError, nodeName, type Graph, type GraphNode, type NodeRef, type OpName } from '@loom/graph';
import type { GradEmitter } from './emit.ts';
import { blocksOf, layerBlockOf, RECOMPUTED_MARK, type BlockOfParam } from './recompute.ts';
import { VJP_RULES } from './rules/index.ts';
import type { VjpRule } from './vjp.ts';

/** A gradient that cannot be formed: a bad loss, an unknown parameter, an op without a gradient on the path. */
export class GradError extends LoomError {
  constructor(message: string) {
    super('grad', message);
  }
}

export interface GradOptions {
  /** The output to differentiate: an f32 scalar (shape [] or [1]). */
  readonly loss: string;
  /** The parameters (by name) to differentiate with respect to; default: every f32 param. */
  readonly wrt?: readonly string[];
  /** Other outputs of the graph to keep beside the loss (e.g. the logits, for accuracy). */
  readonly keep?: readonly string[];
  /**
   * Recompute each block's activations in the backward pass instead of keeping them from the
   * forward one (recompute.ts): `true` finds blocks by parameter names (`h.3.`, `layers.3.`,
   * `encoder.layers.3.`), a function names a parameter's block. Default: keep every activation.
   */
  readonly recompute?: boolean | BlockOfParam;
}

/** The output name a parameter's gradient gets. */
export const gradName = (param: string): string => `grad.${param}`;

const hasRule = (op: string): boolean => Object.hasOwn(VJP_RULES, op);

/** Where a node comes from, for messages: `op (model.ts:12)`. */
function where(node: GraphNode): string {
  return `${node.op}${node.source ? ` (${node.source})` : ''}`;
}

/**
 * The gradient graph of `graph`: it computes the same outputs that are asked for (the loss and
 * `keep`), plus `grad.<name>`, d loss / d param, for each parameter in `wrt`. Reverse mode, as a
 * graph transform: composite and fused ops without a rule of their own are first replaced by their
 * decompositions; then, from the loss back, each op's VJP rule (rules/) adds the ops computing its
 * inputs' cotangents, summed where a value is read more than once. The result is an ordinary graph:
 * the compiler fuses, schedules and memory-plans the backward pass with the forward one.
 *
 * A parameter the loss does not depend on gets a zero gradient. One that the loss reaches only
 * through an op without a gradient (a comparison, a cast to i32, a cache update) is a GradError
 * naming the op, its model line and the path.
 */
export function grad(graph: Graph, options: GradOptions): Graph {
  const forward = expandOps(graph, (def) => def.decompose !== undefined && !hasRule(def.name) && def.category !== 'source');
  const byName = new Map(forward.outputs.map((o) => [o.name, o.node]));
  const lossNode = byName.get(options.loss);
  if (lossNode === undefined) throw new GradError(`grad: the graph has no output '${options.loss}' (outputs: ${[...byName.keys()].join(', ')})`);
  const lossType = forward.nodes[lossNode]!.type;
  if (lossType.dtype !== 'f32' || !(lossType.shape.length === 0 || (lossType.shape.length === 1 && lossType.shape[0] === 1))) {
    throw new GradError(`grad: the loss '${options.loss}' must be an f32 scalar ([] or [1]), got ${formatType(lossType)}`);
  }
  const params = forward.nodes.filter((n) => n.op === 'param' && n.type.dtype === 'f32');
  const paramByName = new Map(params.map((p) => [nodeName(p)!, p]));
  const wrt = (options.wrt ?? [...paramByName.keys()]).map((name) => {
    const p = paramByName.get(name);
    if (!p) throw new GradError(`grad: wrt names '${name}', which is not an f32 parameter of the graph (parameters: ${[...paramByName.keys()].slice(0, 8).join(', ')}${paramByName.size > 8 ? ', ...' : ''})`);
    return p;
  });
  for (const name of options.keep ?? []) if (!byName.has(name)) throw new GradError(`grad: keep names '${name}', which is not an output of the graph`);

  const requires = differentiable(forward, new Set(wrt.map((p) => p.id)));
  const needed = neededForLoss(forward, lossNode, requires);
  checkRules(forward, needed, wrt, lossNode);

  const b = new GraphBuilder();
  const map: NodeRef[] = [];
  for (const node of forward.nodes) map[node.id] = b.add(node.op, node.inputs.map((i) => map[i]!), { ...node.attrs }, node.source ?? '');

  // with recompute: a block's forward nodes copied (from the block's inputs) when its backward starts
  const blockOf = options.recompute === true ? layerBlockOf : options.recompute || undefined;
  const block = blockOf ? blocksOf(forward, blockOf) : [];
  const copies = new Map<number, NodeRef>();
  const recomputed = new Set<string>();
  const valueOf = (id: number): NodeRef => {
    const name = block[id];
    if (name === undefined) return map[id]!;
    if (!recomputed.has(name)) {
      recomputed.add(name);
      for (const n of forward.nodes) {
        if (n.id > lossNode) break;
        if (block[n.id] === name) copies.set(n.id, b.add(n.op, n.inputs.map((i) => (block[i] === name ? copies.get(i)! : map[i]!)), { ...n.attrs }, `${n.source ?? ''}${RECOMPUTED_MARK}`));
      }
    }
    return copies.get(id)!;
  };

  const cotangents = new Map<number, NodeRef>();
  const accumulate = (id: number, ct: NodeRef, source: string) => {
    const previous = cotangents.get(id);
    cotangents.set(id, previous === undefined ? ct : b.add('add', [previous, ct], {}, source));
  };
  const lossSource = forward.nodes[lossNode]!.source ?? '';
  accumulate(lossNode, b.add('constant', [], { dtype: 'f32', shape: [...lossType.shape], values: [1] }, lossSource), lossSource);
  for (let id = lossNode; id >= 0; id--) {
    const node = forward.nodes[id]!;
    const ct = cotangents.get(id);
    if (ct === undefined || !needed[id] || node.op === 'param' || node.op === 'input') continue;
    const source = node.source ?? '';
    const emitter: GradEmitter = {
      add: (op, inputs, attrs = {}) => b.add(op, inputs, attrs, source),
      constant: (value, shape = [], dtype = 'f32') => b.add('constant', [], { dtype, shape: [...shape], values: typeof value === 'number' ? [value] : [...value] }, source),
      typeOf: (ref) => b.typeOf(ref),
    };
    const rule = VJP_RULES[node.op as OpName] as VjpRule;
    const inputCts = rule({ b: emitter, node, attrs: node.attrs as never, inputs: node.inputs.map(valueOf), output: valueOf(id), cotangent: ct, needs: (i) => needed[node.inputs[i]!] === true });
    node.inputs.forEach((input, i) => {
      if (!needed[input]) return;
      const got = inputCts[i];
      // no cotangent: the op does not read this input's value (broadcast_like's shape source)
      if (got === undefined) return;
      const want = forward.nodes[input]!.type;
      const have = b.typeOf(got);
      if (formatType(have) !== formatType(want)) throw new GradError(`grad: the rule of ${where(node)} gave input ${i} a cotangent of type ${formatType(have)}, not ${formatType(want)} (a bug in the rule)`);
      accumulate(input, got, source);
    });
  }

  const outputs: Record<string, NodeRef> = { [options.loss]: map[lossNode]! };
  for (const name of options.keep ?? []) outputs[name] = map[byName.get(name)!]!;
  for (const p of wrt) {
    const name = nodeName(p)!;
    // a parameter the loss does not depend on: a zero gradient of its shape
    outputs[gradName(name)] = cotangents.get(p.id) ?? b.add('constant', [], { dtype: 'f32', shape: [...p.type.shape], values: [0] }, p.source ?? '');
  }
  return b.build(outputs);
}

/** Nodes whose value depends on a parameter in `wrt` through f32 values (integer values carry no gradient). */
function differentiable(graph: Graph, wrt: ReadonlySet<number>): boolean[] {
  const requires: boolean[] = [];
  for (const node of graph.nodes) {
    requires[node.id] = node.type.dtype === 'f32' && (wrt.has(node.id) || node.inputs.some((i) => requires[i] && graph.nodes[i]!.type.dtype === 'f32'));
  }
  return requires;
}

/** Of the differentiable nodes, those the loss reads (directly or not): the ones whose cotangents are formed. */
function neededForLoss(graph: Graph, loss: number, requires: readonly boolean[]): boolean[] {
  const needed: boolean[] = new Array<boolean>(graph.nodes.length).fill(false);
  needed[loss] = requires[loss]!;
  for (let id = loss; id >= 0; id--) {
    if (!needed[id]) continue;
    for (const i of graph.nodes[id]!.inputs) if (requires[i]) needed[i] = true;
  }
  return needed;
}

/**
 * Every op the backward pass goes through has a rule, and every parameter asked for that the loss
 * reads at all, it reads through f32 values: otherwise one error naming the op and the path.
 */
function checkRules(graph: Graph, needed: readonly boolean[], wrt: readonly GraphNode[], loss: number): void {
  for (const node of graph.nodes) {
    if (!needed[node.id] || node.op === 'param' || hasRule(node.op)) continue;
    const why = getOp(node.op).category === 'composite' ? 'a composite without a decomposition' : 'an op without a gradient';
    throw new GradError(`grad: ${where(node)} is on the path from a parameter to the loss, but it is ${why}: ${pathThrough(graph, node.id, loss)}`);
  }
  // a parameter the loss reads only through integer values (a comparison, a cast): the path is cut
  const reads = readsFrom(graph, loss);
  for (const p of wrt) {
    if (needed[p.id] || !reads[p.id]) continue;
    const cut = graph.nodes.find((n) => n.type.dtype === 'i32' && reads[n.id] && n.inputs.some((i) => graph.nodes[i]!.type.dtype === 'f32' && dependsOn(graph, i, p.id)));
    const via = cut ? `${where(cut)}, which has no gradient (its output is i32)` : 'integer values only';
    throw new GradError(`grad: the loss reads parameter '${nodeName(p)}' only through ${via}: ${pathThrough(graph, cut?.id ?? p.id, loss, p.id)}`);
  }
}

/** Nodes the given output reads, directly or not. */
function readsFrom(graph: Graph, output: number): boolean[] {
  const reads = new Array<boolean>(graph.nodes.length).fill(false);
  reads[output] = true;
  for (let id = output; id >= 0; id--) if (reads[id]) for (const i of graph.nodes[id]!.inputs) reads[i] = true;
  return reads;
}

function dependsOn(graph: Graph, node: number, on: number): boolean {
  if (node === on) return true;
  const seen = new Set<number>();
  const stack = [node];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (id === on) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...graph.nodes[id]!.inputs);
  }
  return false;
}

/** "param 'w' -> matmul (m.ts:3) -> ... -> loss": a path from a parameter (or `from`) through `node` to the loss. */
function pathThrough(graph: Graph, node: number, loss: number, from?: number): string {
  // back from node to a parameter, then forward from node to the loss
  const back: number[] = [node];
  for (let id = node; ; ) {
    const next = graph.nodes[id]!.inputs.find((i) => (from === undefined ? graph.nodes[i]!.op === 'param' || graph.nodes[i]!.inputs.length > 0 : dependsOn(graph, i, from)) && graph.nodes[i]!.op !== 'constant' && graph.nodes[i]!.op !== 'input');
    if (next === undefined) break;
    back.unshift(next);
    id = next;
    if (graph.nodes[id]!.op === 'param') break;
  }
  const forwardPath: number[] = [];
  for (let id = node; id !== loss; ) {
    const next = graph.nodes.find((n) => n.id > id && n.inputs.includes(id) && dependsOn(graph, loss, n.id));
    if (!next) break;
    forwardPath.push(next.id);
    id = next.id;
  }
  const label = (id: number) => {
    const n = graph.nodes[id]!;
    return n.op === 'param' ? `param '${nodeName(n)}'` : where(n);
  };
  const path = [...back, ...forwardPath].map(label);
  return `${path.length > 12 ? [...path.slice(0, 5), '...', ...path.slice(-5)].join(' -> ') : path.join(' -> ')} -> loss`;
}

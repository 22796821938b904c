import type { Graph, GraphNode } from '@loom/graph';

/**
 * What a pass did, node by node: passes rebuild the graph (ids change), so nodes are matched by
 * structure (op, attributes, type, and twin inputs; matchNodes). A node the pass left alone has a
 * twin after it; the others were removed (absorbed by a fusion, folded, merged) or
 * added (the fused node). `absorbedInto` says, for each added node, which removed nodes it took the
 * place of: those upstream of where it now feeds a surviving node or an output.
 */
export interface PassDiff {
  /** Nodes of `before` with no twin in `after`. */
  readonly removed: readonly number[];
  /** Nodes of `after` with no twin in `before`. */
  readonly added: readonly number[];
  /** Added node id -> the removed nodes of `before` it replaced. */
  readonly absorbedInto: ReadonlyMap<number, readonly number[]>;
}

const signature = (n: GraphNode) => `${n.op}|${JSON.stringify(n.attrs)}|${n.type.dtype}[${n.type.shape.join(',')}]|${n.inputs.length}`;

/**
 * Pairs each node of `after` with its twin in `before`, in topological order: the same op,
 * attributes and type, and inputs that are twins, or, where an input is new, one with no twin (the
 * node a fusion replaced). Returns after id -> before id.
 */
function matchNodes(before: Graph, after: Graph): Map<number, number> {
  const bySignature = new Map<string, number[]>();
  for (const n of before.nodes) bySignature.set(signature(n), [...(bySignature.get(signature(n)) ?? []), n.id]);
  const twin = new Map<number, number>();
  const used = new Set<number>();
  for (const a of after.nodes) {
    const found = (bySignature.get(signature(a)) ?? []).find((c) => {
      if (used.has(c)) return false;
      return before.nodes[c]!.inputs.every((b, i) => {
        const t = twin.get(a.inputs[i]!);
        return t !== undefined ? t === b : !used.has(b);
      });
    });
    if (found === undefined) continue;
    twin.set(a.id, found);
    used.add(found);
  }
  return twin;
}

export function diffPass(before: Graph, after: Graph): PassDiff {
  const twins = matchNodes(before, after);
  const kept = new Set(twins.values());
  const removed = before.nodes.filter((n) => !kept.has(n.id)).map((n) => n.id);
  const added = after.nodes.filter((n) => !twins.has(n.id)).map((n) => n.id);
  const isRemoved = new Set(removed);
  const isAdded = new Set(added);
  const absorbedInto = new Map<number, number[]>();
  const owner = new Map<number, number>();
  // claims every removed node upstream of `start` (stopping at surviving nodes) for added node `into`
  const claim = (start: number, into: number) => {
    const stack = [start];
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (!isRemoved.has(id) || owner.has(id)) continue;
      owner.set(id, into);
      absorbedInto.set(into, [...(absorbedInto.get(into) ?? []), id]);
      stack.push(...before.nodes[id]!.inputs);
    }
  };
  // where an added node feeds a surviving node (or an output), the removed node fed it before
  for (const n of after.nodes) {
    if (isAdded.has(n.id)) continue;
    const twin = before.nodes[twins.get(n.id)!]!;
    n.inputs.forEach((input, i) => {
      if (isAdded.has(input)) claim(twin.inputs[i]!, input);
    });
  }
  const outputsBefore = new Map(before.outputs.map((o) => [o.name, o.node]));
  for (const o of after.outputs) if (isAdded.has(o.node) && outputsBefore.has(o.name)) claim(outputsBefore.get(o.name)!, o.node);
  // an added node that replaced nothing (a constant folding made) has an empty list
  for (const id of added) if (!absorbedInto.has(id)) absorbedInto.set(id, []);
  for (const ids of absorbedInto.values()) ids.sort((a, b) => a - b);
  return { removed, added, absorbedInto };
}

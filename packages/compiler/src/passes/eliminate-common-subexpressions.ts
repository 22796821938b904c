import { isRecomputed } from '../autodiff/recompute.ts';
import type { NodeView } from '../rewrite/pattern.ts';
import { WorkingGraph } from '../rewrite/working-graph.ts';
import { definePass } from './pass.ts';

/** Ops whose two inputs may be swapped without changing a single bit of the result. */
const COMMUTATIVE: ReadonlySet<string> = new Set(['add', 'mul', 'maximum', 'minimum', 'equal', 'not_equal', 'logical_and', 'logical_or']);

/**
 * Hash-consing: two nodes with the same op, the same inputs (after merging) and the same attributes
 * compute the same value, so readers of the later one read the earlier one. Constants merge by value
 * (a filled tensor and its spelled-out values are one constant; 0 and -0 stay apart), commutative ops
 * by their unordered inputs. Graph inputs and params are never merged: their names are their identity;
 * nor are the backward pass's recomputed activations (recompute.ts): they are copies on purpose.
 */
export const eliminateCommonSubexpressions = definePass(
  'eliminate-common-subexpressions',
  'merge nodes that compute the same value (hash-consing; constants by value)',
  (graph) => {
    const g = WorkingGraph.from(graph);
    const seen = new Map<string, number>();
    for (const id of g.order()) {
      const node = g.node(id);
      if (node.op === 'input' || node.op === 'param' || isRecomputed(node)) continue;
      const key = nodeKey(node);
      const first = seen.get(key);
      if (first === undefined) seen.set(key, id);
      else g.replace(id, first);
    }
    return g.toGraph();
  },
);

/** The identity of a node's value: op, inputs and attributes, with constants normalized. */
export function nodeKey(node: NodeView): string {
  let attrs: Readonly<Record<string, unknown>> = node.attrs;
  if (node.op === 'constant') {
    const values = attrs['values'] as readonly number[];
    const uniform = values.every((v) => Object.is(v, values[0]));
    attrs = { ...attrs, values: uniform ? [values[0]] : values };
  }
  const inputs = COMMUTATIVE.has(node.op) ? [...node.inputs].sort((a, b) => a - b) : node.inputs;
  return `${node.op}(${inputs.join(',')})${stableKey(attrs)}`;
}

/** JSON-like text with sorted keys that tells -0 from 0 and keeps non-finite numbers. */
export function stableKey(value: unknown): string {
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (Array.isArray(value)) return `[${value.map(stableKey).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableKey((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

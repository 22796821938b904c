import { multiplyDims, resolveDim, type Dim, type Graph } from '@loom/graph';
import { VIEW_OPS } from './plan.ts';

/**
 * Kernel order. Any topological order computes the same values; they differ in how many
 * intermediates are alive at once. The greedy scheduler repeatedly runs, among the ready nodes, the
 * one that adds the fewest live bytes (its output minus the inputs it is the last reader of); ties
 * keep the model's own order. The result is kept only if its simulated peak beats graph order.
 */
export interface Schedule {
  readonly order: number[];
  readonly peakBytes: number;
  readonly graphOrderPeakBytes: number;
}

/** Symbol values used to weigh symbolic sizes when none are given. */
const DEFAULT_SYMBOL_SIZE = 64;

export function scheduleForMemory(graph: Graph, bindings: Readonly<Record<string, number>> = {}): Schedule {
  // a view carries its source's storage: counting it as the view's own makes the source's bytes
  // move to the view when the view is the source's last reader
  const bytes: number[] = [];
  for (const n of graph.nodes) {
    bytes[n.id] = isExternal(n.op) ? 0 : VIEW_OPS.has(n.op) ? bytes[n.inputs[0]!]! : sizeBytes(multiplyDims(n.type.shape), bindings);
  }
  const users: number[][] = graph.nodes.map(() => []);
  for (const n of graph.nodes) for (const i of new Set(n.inputs)) users[i]!.push(n.id);
  const outputs = new Set(graph.outputs.map((o) => o.node));

  const graphOrder = graph.nodes.map((n) => n.id);
  const graphOrderPeak = simulatePeak(graph, graphOrder, bytes, users, outputs);

  const remainingInputs = graph.nodes.map((n) => new Set(n.inputs).size);
  const remainingUsers = users.map((u) => u.length);
  const ready = new Set<number>(graph.nodes.filter((n) => remainingInputs[n.id] === 0).map((n) => n.id));
  const order: number[] = [];
  while (ready.size > 0) {
    let best = -1;
    let bestScore = Infinity;
    for (const id of ready) {
      let freed = 0;
      for (const i of new Set(graph.nodes[id]!.inputs)) if (remainingUsers[i] === 1 && !outputs.has(i)) freed += bytes[i]!;
      const score = bytes[id]! - freed;
      if (score < bestScore || (score === bestScore && id < best)) {
        best = id;
        bestScore = score;
      }
    }
    ready.delete(best);
    order.push(best);
    for (const i of new Set(graph.nodes[best]!.inputs)) remainingUsers[i]!--;
    for (const u of users[best]!) if (--remainingInputs[u]! === 0) ready.add(u);
  }
  const peak = simulatePeak(graph, order, bytes, users, outputs);
  return peak < graphOrderPeak
    ? { order, peakBytes: peak, graphOrderPeakBytes: graphOrderPeak }
    : { order: graphOrder, peakBytes: graphOrderPeak, graphOrderPeakBytes: graphOrderPeak };
}

/** Peak of live intermediate bytes when running nodes in `order` (views alias their source). */
function simulatePeak(graph: Graph, order: readonly number[], bytes: readonly number[], users: readonly number[][], outputs: ReadonlySet<number>): number {
  const remaining = users.map((u) => u.length);
  let live = 0;
  let peak = 0;
  for (const id of order) {
    live += bytes[id]!;
    peak = Math.max(peak, live);
    for (const i of new Set(graph.nodes[id]!.inputs)) {
      if (--remaining[i]! === 0 && !outputs.has(i)) live -= bytes[i]!;
    }
  }
  return peak;
}

function isExternal(op: string): boolean {
  return op === 'input' || op === 'param' || op === 'constant';
}

function sizeBytes(size: Dim, bindings: Readonly<Record<string, number>>): number {
  const env = new Map<string, number>();
  if (typeof size === 'string') for (const s of size.split('*')) if (!/^\d+$/.test(s)) env.set(s, bindings[s] ?? DEFAULT_SYMBOL_SIZE);
  return resolveDim(size, env) * 4;
}

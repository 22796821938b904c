import { InputError } from '@loom/graph';
import { CHUNK_END, CHUNK_START } from '../wasm-runtime/thread-pool.ts';
import { keepable, weightPanels } from '../wasm-runtime/weight-panels.ts';
import { batchedMatmul, type MatmulContext } from './matmul.ts';
import { isResident, markResident } from './resident-weights.ts';

/**
 * expert_matmul on the cpu: the rows are grouped by the expert their id names, and each expert's
 * rows run as one product with that expert's matrix, on the same GEMM kernels as matmul (a resident
 * weight's expert matrices get kept panels too: each is a stable view of the stacked weight). An
 * expert no row picked costs nothing: the work is proportional to the rows, not to the experts.
 * With kept panels and more than one row for some expert (a prefill), every expert's product is one
 * job list for the threads (`gemm_jobs`): one dispatch for all the experts instead of one each.
 *   x [R / J or R, K] rows, w [E, K, N] (or [E, N, K] with transposeB), ids [R] -> out [R, N], or
 *   with `sum` out [R / J, N]: each token's J products added (in expert order)
 */
export function expertMatmul(ctx: MatmulContext, x: Float32Array, w: Float32Array, wShape: readonly number[], ids: Int32Array, idsShape: readonly number[], out: Float32Array, transposeB: boolean, sum = false): void {
  const [experts, wk, wn] = wShape as [number, number, number];
  const [k, n] = transposeB ? [wn, wk] : [wk, wn];
  const rows = ids.length;
  const j = idsShape[idsShape.length - 1]!;
  const xRowOf = x.length === rows * k ? (r: number) => r : (r: number) => Math.floor(r / Math.max(j, 1));
  // where row r's product goes: its own row, or (sum) added into its token's
  const place = sum ? addInto(out, n, Math.max(j, 1)) : (c: Float32Array, i: number, r: number) => out.set(c.subarray(i * n, (i + 1) * n), r * n);
  if (sum) out.fill(0);
  // rows by expert (counting sort: each expert's rows in row order)
  const starts = new Int32Array(experts + 1);
  for (let r = 0; r < rows; r++) {
    const e = ids[r]!;
    if (!(e >= 0 && e < experts)) throw new InputError(`expert_matmul: id ${e} at position ${r} is outside the ${experts} experts`);
    starts[e + 1]!++;
  }
  for (let e = 0; e < experts; e++) starts[e + 1]! += starts[e]!;
  const order = new Int32Array(rows);
  const fill = starts.slice(0, experts);
  for (let r = 0; r < rows; r++) order[fill[ids[r]!]!++] = r;
  const views = expertViews(w, experts, k * n);
  let most = 0;
  for (let e = 0; e < experts; e++) most = Math.max(most, starts[e + 1]! - starts[e]!);
  const panels = most > 1 && views.every((v) => keepable(v, 0, k, n)) ? views.map((v) => weightPanels(ctx.rt, ctx.settings, v, k, n, transposeB, 'f32')) : [];
  if (panels.length > 0 && panels.every((p) => p !== undefined)) {
    expertJobs(ctx, x, xRowOf, panels as number[], order, starts, place, k, n);
    return;
  }
  // one expert's rows gathered, and its product, in the heap: the GEMM reads and writes them in place
  for (let e = 0; e < experts; e++) most = Math.max(most, starts[e + 1]! - starts[e]!);
  const heap = ctx.rt.heap;
  const [aAt, cAt] = [heap.alloc(most * k * 4), heap.alloc(most * n * 4)];
  try {
    for (let e = 0; e < experts; e++) {
      const count = starts[e + 1]! - starts[e]!;
      if (count === 0) continue;
      const a = new Float32Array(heap.memory.buffer, aAt, count * k);
      for (let i = 0; i < count; i++) {
        const from = xRowOf(order[starts[e]! + i]!) * k;
        a.set(x.subarray(from, from + k), i * k);
      }
      batchedMatmul(ctx, a, views[e]!, new Float32Array(heap.memory.buffer, cAt, count * n), [count, k], transposeB ? [n, k] : [k, n], [count, n], transposeB);
      // a view made after the product: growing a memory that is not shared detaches older ones
      const c = new Float32Array(heap.memory.buffer, cAt, count * n);
      for (let i = 0; i < count; i++) place(c, i, order[starts[e]! + i]!);
    }
  } finally {
    heap.release(aAt);
    heap.release(cAt);
  }
}

/**
 * Every expert's product as one job list: the rows gathered in expert order, each expert's block of
 * A packed, and gemm jobs of (expert, panel range) for the threads; then the rows scattered back.
 */
function expertJobs(
  { rt, settings: s }: MatmulContext,
  x: Float32Array,
  xRowOf: (r: number) => number,
  panels: readonly number[],
  order: Int32Array,
  starts: Int32Array,
  place: (c: Float32Array, i: number, r: number) => void,
  k: number,
  n: number,
): void {
  const rows = order.length;
  const experts = panels.length;
  const panelCount = Math.ceil(n / 8);
  // panel ranges per expert: enough jobs that the threads share the work evenly
  const chunk = Math.max(1, Math.ceil(panelCount / (2 * s.threads)));
  const packedAt: number[] = [];
  let packedBytes = 0;
  let jobs = 0;
  for (let e = 0; e < experts; e++) {
    packedAt.push(packedBytes);
    const count = starts[e + 1]! - starts[e]!;
    if (count > 0) jobs += Math.ceil(panelCount / chunk);
    packedBytes += Math.ceil(count / 4) * k * 16;
  }
  const heap = rt.heap;
  const [aAt, packed, cAt, table] = [heap.alloc(rows * k * 4), heap.alloc(packedBytes), heap.alloc(rows * n * 4), heap.alloc(jobs * 36)];
  try {
    const a = new Float32Array(heap.memory.buffer, aAt, rows * k);
    for (let i = 0; i < rows; i++) {
      const from = xRowOf(order[i]!) * k;
      a.set(x.subarray(from, from + k), i * k);
    }
    const entries = new Int32Array(jobs * 9);
    let j = 0;
    for (let e = 0; e < experts; e++) {
      const count = starts[e + 1]! - starts[e]!;
      if (count === 0) continue;
      const [ap, c] = [packed + packedAt[e]!, cAt + starts[e]! * n * 4];
      rt.parallel(s, 'pack_a', [aAt + starts[e]! * k * 4, k * 4, count, k, ap, CHUNK_START, CHUNK_END], Math.ceil(count / 4), 1);
      for (let p0 = 0; p0 < panelCount; p0 += chunk) entries.set([ap, count, panels[e]!, k, n, c, n * 4, p0, Math.min(p0 + chunk, panelCount)], 9 * j++);
    }
    new Int32Array(heap.memory.buffer, table, jobs * 9).set(entries);
    rt.parallel(s, 'gemm_jobs', [table, CHUNK_START, CHUNK_END], jobs, s.threads);
    const c = new Float32Array(heap.memory.buffer, cAt, rows * n);
    for (let i = 0; i < rows; i++) place(c, i, order[i]!);
  } finally {
    for (const at of [aAt, packed, cAt, table]) heap.release(at);
  }
}

/** Adds product row i of `c` into the row of row r's token (r / j) of `out`. */
function addInto(out: Float32Array, n: number, j: number): (c: Float32Array, i: number, r: number) => void {
  return (c, i, r) => {
    const to = Math.floor(r / j) * n;
    const from = i * n;
    for (let col = 0; col < n; col++) out[to + col]! += c[from + col]!;
  };
}

/** Each expert's matrix as one view of the stacked weight, the same view every run (kept panels are found by identity). */
const viewsOf = new WeakMap<Float32Array, Float32Array[]>();

function expertViews(w: Float32Array, experts: number, size: number): Float32Array[] {
  let views = viewsOf.get(w);
  if (!views || views.length !== experts) {
    views = Array.from({ length: experts }, (_, e) => w.subarray(e * size, (e + 1) * size));
    viewsOf.set(w, views);
  }
  if (isResident(w)) for (const view of views) markResident(view);
  return views;
}

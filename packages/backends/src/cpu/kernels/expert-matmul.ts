import { InputError } from '@loom/graph';
import { batchedMatmul, type MatmulContext } from './matmul.ts';
import { isResident, markResident } from './resident-weights.ts';

/**
 * expert_matmul on the cpu: the rows are grouped by the expert their id names, and each expert's
 * rows run as one product with that expert's matrix, on the same GEMM kernels as matmul (a resident
 * weight's expert matrices get kept panels too: each is a stable view of the stacked weight). An
 * expert no row picked costs nothing: the work is proportional to the rows, not to the experts.
 *   x [R / J or R, K] rows, w [E, K, N] (or [E, N, K] with transposeB), ids [R] -> out [R, N]
 */
export function expertMatmul(ctx: MatmulContext, x: Float32Array, w: Float32Array, wShape: readonly number[], ids: Int32Array, idsShape: readonly number[], out: Float32Array, transposeB: boolean): void {
  const [experts, wk, wn] = wShape as [number, number, number];
  const [k, n] = transposeB ? [wn, wk] : [wk, wn];
  const rows = ids.length;
  const j = idsShape[idsShape.length - 1]!;
  const xRowOf = x.length === rows * k ? (r: number) => r : (r: number) => Math.floor(r / Math.max(j, 1));
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
  // one expert's rows gathered, and its product, in the heap: the GEMM reads and writes them in place
  let most = 0;
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
      for (let i = 0; i < count; i++) out.set(c.subarray(i * n, (i + 1) * n), order[starts[e]! + i]! * n);
    }
  } finally {
    heap.release(aAt);
    heap.release(cAt);
  }
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

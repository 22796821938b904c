import { broadcastStrides } from '@loom/graph';
import { contiguousLayout, type Layout } from '../layout.ts';
import { placeInHeap } from '../wasm-runtime/placement.ts';
import type { KernelSettings, WasmRuntime } from '../wasm-runtime/runtime.ts';
import { CHUNK_END, CHUNK_START, perThread, type KernelArg } from '../wasm-runtime/thread-pool.ts';

/**
 * Fused attention on the WebAssembly SIMD kernel (../wasm/kernels.wat `attention`): out =
 * softmax(q k^T * scale + mask) v, one query row at a time with one row of scores (no Tq x Tk
 * matrix), heads claimed by threads in chunks. q[..., Tq, Dh], k[..., Tk, Dh], v[..., Tk, Dv]; each may be a
 * strided view (a column slice of a packed q/k/v projection, a head split), read in place: the kernel
 * takes a base and strides per head and per row, the last axis contiguous. k's and v's leading axes
 * may be 1 where q's are not (grouped-query attention: one kv head per group of query heads): such
 * an axis gets stride 0. The mask broadcasts to [..., Tq, Tk]. Keys the mask hides are skipped when
 * the row has an open key (exact: weight 0).
 */
export interface AttentionOperand {
  readonly data: Float32Array;
  readonly layout: Layout;
}

const F32 = 4;

export function attentionWasm(
  rt: WasmRuntime,
  s: KernelSettings,
  q: AttentionOperand,
  k: AttentionOperand,
  v: AttentionOperand,
  mask: { data: Float32Array; shape: readonly number[] } | undefined,
  out: Float32Array,
  outShape: readonly number[],
  scale: number,
): void {
  const rank = outShape.length;
  const [tq, dv] = [outShape[rank - 2]!, outShape[rank - 1]!];
  const [tk, dh] = [k.layout.shape[rank - 2]!, k.layout.shape[rank - 1]!];
  const batchShape = outShape.slice(0, -2);
  const heads = rank > 2 ? batchShape[batchShape.length - 1]! : 1;
  const outer = batchShape.slice(0, -1).reduce((p, d) => p * d, 1);
  if (out.length === 0) return;
  // operands outside the heap (graph inputs, weights) are copied into scratch, with their layouts;
  // after them, one row of scores per thread
  const threads = Math.min(s.threads, heads);
  const rowBytes = Math.ceil(tk / 16) * 64;
  const {
    at: [qAt, kAt, vAt, maskAt, outAt],
    extra: rowsAt,
  } = placeInHeap(rt, [q.data, k.data, v.data, mask?.data, out], rowBytes * threads);
  const maskStrides = mask ? broadcastStrides(mask.shape, [...batchShape, tq, tk]) : [];
  const outLayout = contiguousLayout(outShape);
  const outerShape = batchShape.slice(0, -1);
  const scaleBits = new Int32Array(new Float32Array([scale]).buffer)[0]!;
  for (let o = 0; o < outer; o++) {
    // element offsets of this outer index (all batch axes but the head axis) in each operand
    const index = unravel(o, outerShape);
    const base = (l: Layout) => l.offset + index.reduce((sum, i, d) => sum + i * batchStride(l, d), 0);
    const headStride = (l: Layout) => (rank > 2 ? batchStride(l, rank - 3) : 0);
    const maskBase = index.reduce((sum, i, d) => sum + i * maskStrides[d]!, 0);
    const args: KernelArg[] = [
      qAt! + base(q.layout) * F32, headStride(q.layout) * F32, q.layout.strides[rank - 2]! * F32,
      kAt! + base(k.layout) * F32, headStride(k.layout) * F32, k.layout.strides[rank - 2]! * F32,
      vAt! + base(v.layout) * F32, headStride(v.layout) * F32, v.layout.strides[rank - 2]! * F32,
      mask ? maskAt! + maskBase * F32 : 0, mask && rank > 2 ? maskStrides[rank - 3]! * F32 : 0, mask ? maskStrides[rank - 2]! * F32 : 0, mask ? maskStrides[rank - 1]! * F32 : 0,
      outAt! + base(outLayout) * F32, headStride(outLayout) * F32, outLayout.strides[rank - 2]! * F32,
      tq, tk, dh, dv, scaleBits, perThread(rowsAt, rowBytes), CHUNK_START, CHUNK_END,
    ];
    rt.parallel(s, 'attention', args, heads, threads);
  }
  if (rt.heap.addressOf(out) < 0) out.set(new Float32Array(rt.heap.memory.buffer, outAt!, out.length));
}

/** The stride of leading axis d, 0 where the operand has extent 1 (broadcast over the others' heads). */
function batchStride(l: Layout, d: number): number {
  return l.shape[d] === 1 ? 0 : l.strides[d]!;
}

function unravel(index: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = index % shape[d]!;
    index = Math.floor(index / shape[d]!);
  }
  return out;
}

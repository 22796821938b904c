import { broadcastStrides } from '@loom/graph';
import { f32Bits } from '../wasm-runtime/float-bits.ts';
import { contiguousLayout, type Layout } from '../layout.ts';
import { placeInHeap } from '../wasm-runtime/placement.ts';
import type { KernelSettings, WasmRuntime } from '../wasm-runtime/runtime.ts';
import { CHUNK_END, CHUNK_START, perThread, type KernelArg } from '../wasm-runtime/thread-pool.ts';

/**
 * Fused attention on the WebAssembly SIMD kernels (../wasm/kernels.wat): out =
 * softmax(q k^T * scale + mask) v, heads claimed by threads in chunks. Eight query rows or more
 * without extras (a prefill, an encoder) run as two products per head (`attention_gemm`, scores for
 * 128 query rows at a time); fewer, or with extras, one query row at a time with one row of scores
 * (`attention`). q[..., Tq, Dh], k[..., Tk, Dh], v[..., Tk, Dv]; each may be a
 * strided view (a column slice of a packed q/k/v projection, a head split), read in place: the kernel
 * takes a base and strides per head and per row, the last axis contiguous. k's and v's leading axes
 * may be 1 where q's are not (grouped-query attention: one kv head per group of query heads): such
 * an axis gets stride 0. The mask broadcasts to [..., Tq, Tk]. Keys the mask hides weigh exactly 0
 * when the row has an open key; none past a head's last open key is read (the row kernel reads none
 * past the row's, and skips groups of four hidden keys).
 */
export interface AttentionOperand {
  readonly data: Float32Array;
  readonly layout: Layout;
}

/** fused_attention's attributes past scale and mask, with the positions fed (i32 [Tq] / [B, Tq], [Tk] / [B, Tk]) when `positions` is set. */
export interface AttentionExtrasArgs {
  readonly softcap: number | null;
  readonly alibi: readonly number[] | null;
  readonly causal: boolean;
  readonly window: number | null;
  readonly qPositions?: { readonly data: Int32Array; readonly shape: readonly number[] } | undefined;
  readonly kPositions?: { readonly data: Int32Array; readonly shape: readonly number[] } | undefined;
}

/** The operand with a unit head axis after its first: rank 3 [B, T, D] read as [B, 1, T, D], so that each call of the kernel is one batch row. */
function withHeadAxis(l: Layout): Layout {
  return { ...l, shape: [l.shape[0]!, 1, ...l.shape.slice(1)], strides: [l.strides[0]!, 0, ...l.strides.slice(1)] };
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
  extras?: AttentionExtrasArgs,
): void {
  const positional = extras !== undefined && (extras.alibi !== null || extras.causal || extras.window !== null || extras.qPositions !== undefined);
  if (positional && outShape.length === 3) {
    // positions per batch row: one kernel call per row, as for [B, H, T, D] with one head
    const lift = (o: AttentionOperand): AttentionOperand => ({ data: o.data, layout: withHeadAxis(o.layout) });
    const liftedMask = mask && { data: mask.data, shape: mask.shape.length === 3 ? [mask.shape[0]!, 1, ...mask.shape.slice(1)] : mask.shape };
    attentionWasm(rt, s, lift(q), lift(k), lift(v), liftedMask, out, [outShape[0]!, 1, outShape[1]!, outShape[2]!], scale, extras);
    return;
  }
  const rank = outShape.length;
  const [tq, dv] = [outShape[rank - 2]!, outShape[rank - 1]!];
  const [tk, dh] = [k.layout.shape[rank - 2]!, k.layout.shape[rank - 1]!];
  const batchShape = outShape.slice(0, -2);
  const heads = rank > 2 ? batchShape[batchShape.length - 1]! : 1;
  const outer = batchShape.slice(0, -1).reduce((p, d) => p * d, 1);
  if (out.length === 0) return;
  // operands outside the heap (graph inputs, weights) are copied into scratch, with their layouts;
  // after them, each thread's scratch
  const threads = Math.min(s.threads, heads);
  // many query rows without extras: two products per head (attention_gemm); else a row at a time,
  // each thread holding a row of scores (and after it the row's mask made from positions)
  const gemmBytes = gemmScratchBytes(tq, tk, dh, dv);
  const products = !positional && !extras?.softcap && tq >= GEMM_ROWS && tk > 0 && dh > 0 && dv > 0 && gemmBytes <= GEMM_SCRATCH_LIMIT;
  const rowBytes = products ? gemmBytes : Math.ceil(tk / 16) * 64 * (positional ? 2 : 1);
  const pos = positional ? positionArrays(extras, tq, tk) : undefined;
  const slopes = extras?.alibi ? Float32Array.from(extras.alibi) : undefined;
  const {
    at: [qAt, kAt, vAt, maskAt, outAt, qposAt, kposAt, slopesAt],
    extra: rowsAt,
  } = placeInHeap(rt, [q.data, k.data, v.data, mask?.data, out, pos?.q.data, pos?.k.data, slopes], rowBytes * threads);
  const capBits = extras?.softcap ? f32Bits(extras.softcap) : 0;
  const flags = extras ? (extras.causal ? 1 : 0) | (extras.alibi ? 2 : 0) : 0;
  // heads per batch row (the axes between the first and the last two); a call covers `heads` of them
  const headsPerRow = batchShape.slice(1).reduce((p, d) => p * d, 1);
  const maskStrides = mask ? broadcastStrides(mask.shape, [...batchShape, tq, tk]) : [];
  const outLayout = contiguousLayout(outShape);
  const outerShape = batchShape.slice(0, -1);
  const scaleBits = f32Bits(scale);
  // this call's batch row (positions) and first head (slopes)
  const positionalArgs = (o: number): KernelArg[] => {
    if (!pos) return [0, capBits, 0, 0, 0, 0, 0];
    const first = o * heads;
    const row = Math.floor(first / headsPerRow);
    const rowOf = (p: { shape: readonly number[] }, at: number, length: number) => at + (p.shape.length === 2 ? row * length * F32 : 0);
    return [rowBytes / 2, capBits, slopes ? slopesAt! + (first % headsPerRow) * F32 : 0, rowOf(pos.q, qposAt!, tq), rowOf(pos.k, kposAt!, tk), flags, extras!.window ?? 0];
  };
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
    if (products) rt.parallel(s, 'attention_gemm', args, heads, threads);
    else rt.parallel(s, 'attention', [...args, ...positionalArgs(o)], heads, threads);
  }
  if (rt.heap.addressOf(out) < 0) out.set(new Float32Array(rt.heap.memory.buffer, outAt!, out.length));
}

/** Query rows from which attention without extras runs as two products per head (a prefill; a decoding step's one row runs a row at a time). */
const GEMM_ROWS = 8;
/** A thread's scratch for attention_gemm beyond which the row kernel runs instead (keys of 8192 values of 128 floats). */
const GEMM_SCRATCH_LIMIT = 16 * 2 ** 20;

/** attention_gemm's scratch per thread (kernels.wat): rows' ends, K's and V's panels, a block of 128 query rows packed, their scores, P packed. */
function gemmScratchBytes(tq: number, tk: number, dh: number, dv: number): number {
  const ends = Math.ceil((tq * 4) / 64) * 64;
  const bytes = ends + Math.ceil(tk / 8) * dh * 32 + Math.ceil(dv / 8) * tk * 32 + 32 * dh * 16 + 128 * tk * 4 + 32 * tk * 16;
  return Math.ceil(bytes / 64) * 64;
}

/** The positions fed, or the default ones: queries at the end of the keys (Tk - Tq + i), keys at j. */
function positionArrays(extras: AttentionExtrasArgs | undefined, tq: number, tk: number): { q: { data: Int32Array; shape: readonly number[] }; k: { data: Int32Array; shape: readonly number[] } } {
  if (extras?.qPositions && extras.kPositions) return { q: extras.qPositions, k: extras.kPositions };
  return { q: { data: Int32Array.from({ length: tq }, (_, i) => tk - tq + i), shape: [tq] }, k: { data: Int32Array.from({ length: tk }, (_, j) => j), shape: [tk] } };
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

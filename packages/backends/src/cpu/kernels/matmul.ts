import { batchOffsets, sizeOf } from '@loom/graph';
import { gemm, type GemmArgs } from './gemm.ts';
import { keepable, packInto, panelBytes, weightPanels } from '../wasm-runtime/weight-panels.ts';
import type { KernelSettings, WasmRuntime } from '../wasm-runtime/runtime.ts';
import { CHUNK_END, CHUNK_START } from '../wasm-runtime/thread-pool.ts';

/** An epilogue the kernel applies in place: out = act(out + bias) + residual (see render/matmul-epilogue.ts). */
export interface EpilogueArrays {
  readonly bias: Float32Array | undefined;
  readonly residual: Float32Array | undefined;
  readonly act: 0 | 1 | 2 | 3;
}

export interface MatmulContext {
  readonly rt: WasmRuntime;
  readonly settings: KernelSettings;
}

/**
 * Batched matmul into `out`: a[..., M, K] @ b[..., K, N] (or b[..., N, K] with transposeB), batch
 * axes broadcast. Products run on the WebAssembly kernels in the shared heap, split across threads
 * by column panels (claimed in chunks), so each thread streams only the columns of B it computes: a weight B is read from its kept
 * panels (packed once), any other B is packed per call. One-row products (decoding) take the
 * matrix-vector kernel, on bfloat16 panels when the bf16 weight store is on. Arrays outside the heap
 * (inputs, constants) are copied into scratch first. With `epilogue`, returns whether it was applied
 * (it is when the output and the residual live in the heap; else the caller runs it).
 */
export function batchedMatmul(
  ctx: MatmulContext,
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  aShape: readonly number[],
  bShape: readonly number[],
  outShape: readonly number[],
  transposeB: boolean,
  epilogue?: EpilogueArrays,
): boolean {
  const rank = outShape.length;
  const m = outShape[rank - 2]!;
  const n = outShape[rank - 1]!;
  const k = aShape[aShape.length - 1]!;
  const batchShape = outShape.slice(0, -2);
  const batches = sizeOf(batchShape);
  const aBatches = batchOffsets(aShape.slice(0, -2), batchShape);
  const bBatches = batchOffsets(bShape.slice(0, -2), batchShape);
  for (let batch = 0; batch < batches; batch++) {
    const args = { a, aOffset: aBatches[batch]! * m * k, b, bOffset: bBatches[batch]! * k * n, c: out, cOffset: batch * m * n, m, n, k, transposeB };
    if (m * n * k < ctx.settings.smallProduct || k === 0) gemm(args);
    else productInHeap(ctx, args);
  }
  return epilogue ? applyEpilogue(ctx, epilogue, out, batches * m, n) : false;
}

/** out[rows, n] = act(out + bias) + residual on the kernel, in place; false (nothing done) when out or the residual is outside the heap. */
export function applyEpilogue({ rt, settings: s }: MatmulContext, e: EpilogueArrays, out: Float32Array, rows: number, n: number): boolean {
  const outAt = rt.heap.addressOf(out);
  const residualAt = e.residual ? rt.heap.addressOf(e.residual) : 0;
  if (outAt < 0 || residualAt < 0 || rows * n === 0) return false;
  let biasAt = e.bias ? rt.heap.addressOf(e.bias) : 0;
  if (biasAt < 0) {
    biasAt = rt.scratch(n * 4);
    new Float32Array(rt.heap.memory.buffer, biasAt, n).set(e.bias!.subarray(0, n));
  }
  rt.parallel(s, 'epilogue', [outAt, n * 4, n, biasAt, residualAt, n * 4, e.act, CHUNK_START, CHUNK_END], rows, rows * n * 16 < s.parallelFrom ? 1 : s.threads);
  return true;
}


function productInHeap({ rt, settings: s }: MatmulContext, p: GemmArgs): void {
  const { m, n, k, transposeB } = p;
  // a weight's kept panels (packed at prepare), unless the heap had no room for them
  const kept = keepable(p.b, p.bOffset, k, n) ? weightPanels(rt, s, p.b, k, n, transposeB, m === 1 && s.weightStore === 'bf16' ? 'bf16' : 'f32') : undefined;
  const weight = kept !== undefined;
  const aHeap = rt.heap.addressOf(p.a);
  const cHeap = rt.heap.addressOf(p.c);
  const aBytes = aHeap < 0 ? m * k * 4 : 0;
  const cBytes = cHeap < 0 ? m * n * 4 : 0;
  const bHeap = weight ? 0 : rt.heap.addressOf(p.b);
  const bBytes = !weight && bHeap < 0 ? k * n * 4 : 0;
  const packBytes = weight ? 0 : panelBytes(k, n);
  const aPackedBytes = m === 1 ? 0 : Math.ceil(m / 4) * k * 16;
  const scratch = rt.scratch(aBytes + cBytes + bBytes + packBytes + aPackedBytes);
  const aAt = aHeap < 0 ? scratch : aHeap + p.aOffset * 4;
  if (aHeap < 0) new Float32Array(rt.heap.memory.buffer, aAt, m * k).set(p.a.subarray(p.aOffset, p.aOffset + m * k));
  const cAt = cHeap < 0 ? scratch + aBytes : cHeap + p.cOffset * 4;
  let panels = kept ?? 0;
  if (!weight) {
    const bAt = bHeap >= 0 ? bHeap + p.bOffset * 4 : scratch + aBytes + cBytes;
    if (bHeap < 0) new Float32Array(rt.heap.memory.buffer, bAt, k * n).set(p.b.subarray(p.bOffset, p.bOffset + k * n));
    panels = scratch + aBytes + cBytes + bBytes;
    packInto(rt, s, bAt, k, n, transposeB, panels);
  }
  const panelCount = Math.ceil(n / 8);
  const threads = m * n * k < s.parallelFrom ? 1 : s.threads;
  if (m === 1) {
    const kernel = weight && s.weightStore === 'bf16' ? 'gemv_bf16' : 'gemv';
    rt.parallel(s, kernel, [aAt, panels, k, n, cAt, CHUNK_START, CHUNK_END], panelCount, threads);
  } else {
    const aPacked = scratch + aBytes + cBytes + bBytes + packBytes;
    rt.kernels(s.flavor).pack_a(aAt, k * 4, m, k, aPacked);
    rt.parallel(s, 'gemm', [aPacked, m, panels, k, n, cAt, n * 4, CHUNK_START, CHUNK_END], panelCount, threads);
  }
  if (cHeap < 0) p.c.set(new Float32Array(rt.heap.memory.buffer, cAt, m * n), p.cOffset);
}

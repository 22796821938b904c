import { batchOffsets, sizeOf } from '@loom/graph';
import { gemm, type GemmArgs } from './gemm.ts';
import { bf16PanelsOf, copyPanels, keepable, packInto, panelBytes, streamedPanels, weightPanels } from '../wasm-runtime/weight-panels.ts';
import type { KernelSettings, WasmRuntime } from '../wasm-runtime/runtime.ts';
import type { Layout } from '../layout.ts';
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

/** A of a product given as its transpose X [k, m] in the heap: A[i, kk] = a[offset + kk * ld + i]. */
export interface TransposedOperand {
  readonly offset: number;
  readonly ld: number;
}

/**
 * Whether A (a strided view, `layout`) is one matrix lying transposed in the heap (a weight
 * gradient's X^T), which the kernels pack in place; undefined otherwise (the caller copies it dense).
 */
export function transposedOperand({ rt, settings }: MatmulContext, a: Float32Array, layout: Layout | undefined, aShape: readonly number[], bShape: readonly number[], outShape: readonly number[]): TransposedOperand | undefined {
  if (!layout || layout.reshapeOf || aShape.length !== 2 || outShape.length !== 2 || bShape.length !== 2) return undefined;
  const [m, k] = aShape as [number, number];
  const n = outShape[1]!;
  if (layout.strides[0] !== 1 || layout.strides[1]! < m || m < 2 || m * n * k < settings.smallProduct || rt.heap.addressOf(a) < 0) return undefined;
  return { offset: layout.offset, ld: layout.strides[1]! };
}

/**
 * Batched matmul into `out`: a[..., M, K] @ b[..., K, N] (or b[..., N, K] with transposeB), batch
 * axes broadcast. Products run on the WebAssembly kernels in the shared heap, split across threads
 * by column panels (claimed in chunks), so each thread streams only the columns of B it computes: a weight B is read from its kept
 * panels (packed once), any other B is packed per call. One-row products (decoding) take the
 * matrix-vector kernel, on bfloat16 panels when the bf16 weight store is on: kept, or past the
 * kept limit streamed (copied in per product; weight-panels.ts), and then read by up to 8 decoding
 * rows (a batch, beams) too. Arrays outside the heap
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
  aTransposed?: TransposedOperand,
): boolean {
  const rank = outShape.length;
  const n = outShape[rank - 1]!;
  const k = aShape[aShape.length - 1]!;
  let m = outShape[rank - 2]!;
  const oneRowEach = m === 1; // decoding, with a batch of rows or beams merged into m below
  let batchShape = outShape.slice(0, -2);
  // one B for every batch (a weight) and rows of A of their own: one product of all the rows
  if (sizeOf(bShape.slice(0, -2)) === 1 && sizeOf(aShape.slice(0, -2)) === sizeOf(batchShape)) {
    m *= sizeOf(batchShape);
    batchShape = [];
  }
  const batches = sizeOf(batchShape);
  const aBatches = batchOffsets(aShape.slice(0, -2), batchShape);
  const bBatches = batchOffsets(bShape.slice(0, -2), batchShape);
  if (batches > 1 && !aTransposed && m * n * k >= ctx.settings.smallProduct && m * n * k < ctx.settings.parallelFrom && smallBatches(ctx, a, b, out, aBatches, bBatches, m, n, k, transposeB)) {
    return epilogue ? applyEpilogue(ctx, epilogue, out, batches * m, n) : false;
  }
  for (let batch = 0; batch < batches; batch++) {
    const args = { a, aOffset: aBatches[batch]! * m * k, b, bOffset: bBatches[batch]! * k * n, c: out, cOffset: batch * m * n, m, n, k, transposeB };
    if (aTransposed) productInHeap(ctx, { ...args, aOffset: aTransposed.offset }, aTransposed.ld);
    else if (m * n * k < ctx.settings.smallProduct || k === 0) gemm(args);
    else if (productInHeap(ctx, args, undefined, oneRowEach, batches === 1 ? epilogue : undefined)) return true; // applied with the product
  }
  return epilogue ? applyEpilogue(ctx, epilogue, out, batches * m, n) : false;
}

/** A's or B's batch offsets (in matrices) as one stride, or undefined when they are not evenly spaced. */
function evenStride(offsets: ArrayLike<number>): number | undefined {
  const step = offsets.length > 1 ? offsets[1]! - offsets[0]! : 0;
  for (let i = 0; i < offsets.length; i++) if (offsets[i] !== offsets[0]! + i * step) return undefined;
  return step;
}

/**
 * A batch of products each too small to split (attention's, per batch and head), as one job split by
 * batches: every thread packs and multiplies whole products in its own scratch. False (nothing done)
 * when an operand lies outside the heap or the batches are not evenly spaced; the caller then loops.
 */
function smallBatches({ rt, settings: s }: MatmulContext, a: Float32Array, b: Float32Array, out: Float32Array, aBatches: ArrayLike<number>, bBatches: ArrayLike<number>, m: number, n: number, k: number, transposeB: boolean): boolean {
  const [aAt, bAt, cAt] = [rt.heap.addressOf(a), rt.heap.addressOf(b), rt.heap.addressOf(out)];
  const [aStep, bStep] = [evenStride(aBatches), evenStride(bBatches)];
  if (aAt < 0 || bAt < 0 || cAt < 0 || aStep === undefined || bStep === undefined) return false;
  const batches = aBatches.length;
  const threads = batches * m * n * k < s.parallelFrom ? 1 : s.threads;
  const perThread = Math.ceil(m / 4) * k * 16 + panelBytes(k, n);
  const scratch = rt.scratch(perThread * threads);
  const args = [aAt + aBatches[0]! * m * k * 4, aStep * m * k * 4, k * 4, bAt + bBatches[0]! * k * n * 4, bStep * k * n * 4, transposeB ? 1 : 0, cAt, m * n * 4, m, k, n, { base: scratch, thread: perThread }, CHUNK_START, CHUNK_END];
  rt.parallel(s, 'gemm_batches', args, batches, threads);
  return true;
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
  rt.parallel(s, 'epilogue', [outAt, n * 4, n, biasAt, residualAt, n * 4, e.act, CHUNK_START, CHUNK_END], rows, rows * n < 2 * s.parallelFrom ? 1 : s.threads);
  return true;
}


/** Decoding rows up to which a product under the bf16 store reads the bfloat16 panels when its float32 ones are not kept. */
const BF16_ROWS = 8;

/**
 * One product on the kernels; `aLd`: A given transposed (X [k, m] at aOffset, rows of aLd floats, in
 * the heap); `decodingRows`: its m rows are decoding's, one a batch entry (or beam). With `epilogue`,
 * returns whether it was applied inside the GEMM's job (`gemm_epilogue`: when C, the bias and the
 * residual all live in the heap); else the caller applies it.
 */
function productInHeap({ rt, settings: s }: MatmulContext, p: GemmArgs, aLd?: number, decodingRows = false, epilogue?: EpilogueArrays): boolean {
  const { m, n, k, transposeB } = p;
  const bf16Store = s.weightStore === 'bf16';
  let bf16 = m === 1 && bf16Store;
  // a weight's kept panels (packed at prepare), else with the bf16 store its streamed ones
  const weightB = keepable(p.b, p.bOffset, k, n);
  let kept = weightB ? weightPanels(rt, s, p.b, k, n, transposeB, bf16 ? 'bf16' : 'f32') : undefined;
  let stream = kept === undefined && weightB && bf16 ? streamedPanels(rt, s, p.b, k, n, transposeB) : undefined;
  if (kept === undefined && weightB && bf16Store && decodingRows && m > 1 && m <= BF16_ROWS && aLd === undefined) {
    // past the kept limit a few decoding rows (beams, a batch) read decoding's bfloat16 panels a
    // row at a time rather than copy and pack the float32 weight for each product
    const decoding = bf16PanelsOf(p.b, transposeB);
    if (typeof decoding === 'number') kept = decoding;
    else stream = decoding;
    bf16 = decoding !== undefined;
  }
  const weight = kept !== undefined || stream !== undefined;
  const aHeap = rt.heap.addressOf(p.a);
  const cHeap = rt.heap.addressOf(p.c);
  const aBytes = aHeap < 0 && aLd === undefined ? m * k * 4 : 0;
  const cBytes = cHeap < 0 ? m * n * 4 : 0;
  const bHeap = weight ? 0 : rt.heap.addressOf(p.b);
  const bBytes = !weight && bHeap < 0 ? k * n * 4 : 0;
  const packBytes = kept !== undefined ? 0 : stream ? stream.byteLength : panelBytes(k, n);
  const aPackedBytes = m === 1 || bf16 ? 0 : Math.ceil(m / 4) * k * 16;
  const scratch = rt.scratch(aBytes + cBytes + bBytes + packBytes + aPackedBytes);
  const aAt = aHeap < 0 ? scratch : aHeap + p.aOffset * 4;
  if (aBytes > 0) new Float32Array(rt.heap.memory.buffer, aAt, m * k).set(p.a.subarray(p.aOffset, p.aOffset + m * k));
  const cAt = cHeap < 0 ? scratch + aBytes : cHeap + p.cOffset * 4;
  let panels = kept ?? 0;
  if (stream) panels = copyPanels(rt, stream, scratch + aBytes + cBytes);
  else if (!weight) {
    const bAt = bHeap >= 0 ? bHeap + p.bOffset * 4 : scratch + aBytes + cBytes;
    if (bHeap < 0) new Float32Array(rt.heap.memory.buffer, bAt, k * n).set(p.b.subarray(p.bOffset, p.bOffset + k * n));
    panels = scratch + aBytes + cBytes + bBytes;
    packInto(rt, s, bAt, k, n, transposeB, panels);
  }
  const panelCount = Math.ceil(n / 8);
  const threads = m * n * k < s.parallelFrom ? 1 : s.threads;
  if (m === 1 || bf16) {
    const kernel = weight && bf16 ? 'gemv_bf16' : 'gemv';
    for (let row = 0; row < m; row++) rt.parallel(s, kernel, [aAt + row * k * 4, panels, k, n, cAt + row * n * 4, CHUNK_START, CHUNK_END], panelCount, threads);
  } else {
    const aPacked = scratch + aBytes + cBytes + bBytes + packBytes;
    const blocks = Math.ceil(m / 4);
    const packThreads = m * k < 4 * s.parallelFrom ? 1 : s.threads;
    if (aLd === undefined) rt.parallel(s, 'pack_a', [aAt, k * 4, m, k, aPacked, CHUNK_START, CHUNK_END], blocks, packThreads);
    else rt.parallel(s, 'pack_a_t', [aAt, aLd * 4, m, k, aPacked, CHUNK_START, CHUNK_END], blocks, packThreads);
    const biasAt = epilogue?.bias ? rt.heap.addressOf(epilogue.bias) : 0;
    const residualAt = epilogue?.residual ? rt.heap.addressOf(epilogue.residual) : 0;
    if (epilogue && cHeap >= 0 && biasAt >= 0 && residualAt >= 0) {
      rt.parallel(s, 'gemm_epilogue', [aPacked, m, panels, k, n, cAt, n * 4, biasAt, residualAt, n * 4, epilogue.act, CHUNK_START, CHUNK_END], panelCount, threads);
      return true;
    }
    rt.parallel(s, 'gemm', [aPacked, m, panels, k, n, cAt, n * 4, CHUNK_START, CHUNK_END], panelCount, threads);
  }
  if (cHeap < 0) p.c.set(new Float32Array(rt.heap.memory.buffer, cAt, m * n), p.cOffset);
  return false;
}

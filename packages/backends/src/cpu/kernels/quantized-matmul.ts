import { checkCodeWords, dequantizeInto, sizeOf } from '@loom/graph';
import { applyEpilogue, type EpilogueArrays, type MatmulContext } from './matmul.ts';
import { productLayout, quantizedPanels, type QuantizedWeightArrays } from '../wasm-runtime/quantized-panels.ts';
import { CHUNK_END, CHUNK_START, perThread } from '../wasm-runtime/thread-pool.ts';

/** Bytes of one thread's widened block of a quantized panel (256 rows of 8 floats) in gemm_q. */
const BLOCK_BYTES = 256 * 8 * 4;
/** Bytes of one thread's tile in gemm_i: 4 rows of 8 floats, then 8 vectors of a plane's sums. */
const TILE_BYTES = 256;

/**
 * out [..., M, N] = a [..., M, K] @ W, W quantized (the q8 / q4 stores), on the WebAssembly kernels.
 * Float activations: one row (decoding) streams the codes once, widening them in registers
 * (gemv_q8 / gemv_q4, a group's sum scaled once); more rows pack A as gemm does and widen each
 * 256-row block of a panel once for all of them (gemm_q). int8 activations: the rows' integers times
 * the codes in integer arithmetic (gemv_i4r or gemv_i8 for one row, gemm_i for more, in the layout
 * productLayout picks: the same one for both), each group's sums scaled once. Threads split the
 * columns. Returns whether `epilogue` was applied.
 */
export function quantizedMatmul(ctx: MatmulContext, given: Float32Array, aShape: readonly number[], w: QuantizedWeightArrays, out: Float32Array, int8: boolean, epilogue?: EpilogueArrays): boolean {
  const { rt, settings: s } = ctx;
  const { k, n } = w;
  const m = sizeOf(aShape) / k;
  if (m === 0 || n === 0) return epilogue ? applyEpilogue(ctx, epilogue, out, m, n) : false;
  // int8 activations in groups of whole quads: integer products (productLayout says which layout
  // and so which kernel); otherwise floats, of the rows as int8 activations round them.
  const layout = productLayout(w.bits, w.group, int8, s);
  const panels = quantizedPanels(rt, w, () => checkCodeWords('quantized_matmul', w.codes), layout);
  const groups = Math.ceil(k / w.group);
  const cHeap = rt.heap.addressOf(out);
  const cBytes = cHeap < 0 ? m * n * 4 : 0;
  const threads = m * n * k < s.parallelFrom ? 1 : s.threads;
  const panelCount = Math.ceil(n / 8);
  if (layout !== 'rows') {
    // the rows' integers (i8 for quads and bytes, i16 for pairs; zero past K and in the rows that pad m to
    // blocks of 4), each group's scale and sum of integers
    const aHeap = rt.heap.addressOf(given);
    const narrow = layout !== 'pairs';
    const bytes = layout === 'bytes' ? 1 : 0;
    // gemv_i4r: 4-bit nibbles (3: summed in 16-bit lanes, exact for groups of up to 8 quads), whole bytes, or two planes of nibbles
    const codes = bytes || (w.bits === 8 ? 2 : s.shortSums && w.group <= 32 ? 3 : 0);
    // gemm_i's codes: the quads layout's, whole bytes, or pairs
    const gemmCodes = narrow ? bytes : 2;
    const rows = m === 1 ? 1 : Math.ceil(m / 4) * 4;
    const xqBytes = rows * panels.kp * (narrow ? 1 : 2);
    const tableBytes = rows * groups * 4;
    const perThreadBytes = m > 1 ? TILE_BYTES : narrow ? groups * 32 : 0; // gemm_i's tile, gemv_i4r's integer sums of a panel's groups
    const scratch = rt.scratch(cBytes + (aHeap < 0 ? m * k * 4 : 0) + xqBytes + 2 * tableBytes + 16 + perThreadBytes * threads);
    const cAt = cHeap < 0 ? scratch : cHeap;
    let at = scratch + cBytes;
    const xAt = aHeap >= 0 ? aHeap : at;
    if (aHeap < 0) {
      new Float32Array(rt.heap.memory.buffer, xAt, m * k).set(given.subarray(0, m * k));
      at += m * k * 4;
    }
    const [xqAt, xsAt, xsumAt] = [at, at + xqBytes, at + xqBytes + tableBytes];
    const tileAt = Math.ceil((xsumAt + tableBytes) / 16) * 16;
    const tables = [panels.packed, panels.scales, panels.biases, panels.kp, n, w.group];
    if (m === 1) {
      rt.kernels(s.flavor).quantize_row(xAt, k, panels.kp, w.group, xqAt, xsAt, xsumAt, narrow ? 1 : 0);
      if (narrow) rt.parallel(s, 'gemv_i4r', [xqAt, xsAt, xsumAt, ...tables, codes, cAt, perThread(tileAt, perThreadBytes), CHUNK_START, CHUNK_END], panelCount, threads);
      else rt.parallel(s, 'gemv_i8', [xqAt, xsAt, xsumAt, ...tables, w.bits, cAt, CHUNK_START, CHUNK_END], panelCount, threads);
    } else {
      // the padding rows: zero integers, zero scales (their sums are never stored)
      const padding = rows - m;
      const rowBytes = panels.kp * (narrow ? 1 : 2);
      new Uint8Array(rt.heap.memory.buffer, xqAt + m * rowBytes, padding * rowBytes).fill(0);
      new Float32Array(rt.heap.memory.buffer, xsAt + m * groups * 4, padding * groups).fill(0);
      new Float32Array(rt.heap.memory.buffer, xsumAt + m * groups * 4, padding * groups).fill(0);
      rt.parallel(s, 'quantize_rows', [xAt, k, panels.kp, w.group, xqAt, xsAt, xsumAt, narrow ? 1 : 0, CHUNK_START, CHUNK_END], m, m * k * 8 < s.parallelFrom ? 1 : s.threads); // a value costs about 8 multiply-adds
      rt.parallel(s, 'gemm_i', [xqAt, xsAt, xsumAt, ...tables, w.bits, gemmCodes, narrow && codes === 3 ? 1 : 0, m, cAt, n * 4, perThread(tileAt, perThreadBytes), CHUNK_START, CHUNK_END], panelCount, threads);
    }
    return finish(ctx, out, cHeap, cAt, m, n, panels, epilogue);
  }
  // otherwise float products: of the rows rounded as quantize_activations rounds them, with int8 activations
  const rounded = int8 ? roundedRows(ctx, given, m, k, w.group) : undefined;
  const a = rounded?.array ?? given;
  const aHeap = rt.heap.addressOf(a);
  const aBytes = aHeap < 0 ? m * k * 4 : 0;
  const extra = m === 1 ? groups * 4 : Math.ceil(m / 4) * k * 16 + BLOCK_BYTES * threads;
  const scratch = rt.scratch(aBytes + cBytes + extra);
  const aAt = aHeap < 0 ? scratch : aHeap;
  if (aBytes > 0) new Float32Array(rt.heap.memory.buffer, aAt, m * k).set(a.subarray(0, m * k));
  const cAt = cHeap < 0 ? scratch + aBytes : cHeap;
  const work = scratch + aBytes + cBytes;
  if (m === 1) {
    // the group sums of x, which the zero points (biases) multiply
    const x = new Float32Array(rt.heap.memory.buffer, aAt, k);
    const sums = new Float32Array(rt.heap.memory.buffer, work, groups);
    for (let g = 0; g < groups; g++) {
      let sum = 0;
      for (let i = g * w.group; i < Math.min(k, (g + 1) * w.group); i++) sum += x[i]!;
      sums[g] = sum;
    }
    rt.parallel(s, w.bits === 8 ? 'gemv_q8' : 'gemv_q4', [aAt, panels.packed, panels.scales, panels.biases, work, k, n, w.group, cAt, CHUNK_START, CHUNK_END], panelCount, threads);
  } else {
    const blocks = Math.ceil(m / 4);
    rt.parallel(s, 'pack_a', [aAt, k * 4, m, k, work, CHUNK_START, CHUNK_END], blocks, m * k < 4 * s.parallelFrom ? 1 : s.threads);
    const buf = work + blocks * k * 16;
    rt.parallel(s, 'gemm_q', [work, m, panels.packed, panels.scales, panels.biases, k, n, w.group, w.bits, cAt, n * 4, perThread(buf, BLOCK_BYTES), CHUNK_START, CHUNK_END], panelCount, threads);
  }
  if (rounded) rt.heap.release(rounded.at);
  return finish(ctx, out, cHeap, cAt, m, n, panels, epilogue);
}

/** The product copied out of the heap when it was computed in scratch, temporary panels freed, the epilogue run. */
function finish(ctx: MatmulContext, out: Float32Array, cHeap: number, cAt: number, m: number, n: number, panels: { temporary: boolean; packed: number }, epilogue: EpilogueArrays | undefined): boolean {
  const { rt } = ctx;
  if (cHeap < 0) out.set(new Float32Array(rt.heap.memory.buffer, cAt, m * n));
  if (panels.temporary) rt.heap.release(panels.packed);
  return epilogue ? applyEpilogue(ctx, epilogue, out, m, n) : false;
}

/** x's first m rows rounded to int8 per group (quantize_activations) into a new heap block (x may be read again); the caller releases `at`. */
function roundedRows({ rt, settings: s }: MatmulContext, x: Float32Array, m: number, k: number, group: number): { array: Float32Array; at: number } {
  const at = rt.heap.alloc(Math.max(m * k, 1) * 4);
  const array = new Float32Array(rt.heap.memory.buffer, at, m * k);
  const xHeap = rt.heap.addressOf(x);
  if (xHeap < 0) array.set(x.subarray(0, m * k)); // rounded in place
  rt.parallel(s, 'round_rows', [xHeap >= 0 ? xHeap : at, at, k, group, CHUNK_START, CHUNK_END], m, m * k < s.parallelFrom ? 1 : s.threads);
  return { array, at };
}

/** The float matrix of a quantized weight into `out` ([k, n], or [n, k] with `transpose`), for graphs that read it. */
export function dequantizeCodes(codes: Int32Array, scales: Float32Array, zeroPoints: Float32Array | undefined, out: Float32Array, bits: 8 | 4, group: number, k: number, transpose: boolean): void {
  checkCodeWords('dequantize', codes);
  const n = out.length / Math.max(k, 1);
  dequantizeInto({ bits, group, k, n, codes, scales, ...(zeroPoints ? { zeroPoints } : {}) }, transpose, out);
}

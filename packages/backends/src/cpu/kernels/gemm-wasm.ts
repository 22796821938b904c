import { WASM_BASE64 } from '../wasm/gemm-wasm.ts';
import type { GemmArgs } from './gemm.ts';
import { isResident, registerArena, unmarkResident } from './resident-weights.ts';

/**
 * Drives the SIMD micro-kernel in ../wasm/gemm.wat: copies A into WebAssembly memory (rows padded to
 * a multiple of 4), packs B block by block into 8-wide column panels, accumulates C there (columns
 * padded to a multiple of 8), and copies the result out. A weight's packed panels are kept at the
 * bottom of the memory after its first use (keyed by array and layout), so later calls only copy A
 * and C; scratch for A, unkept panels and C lives above them.
 */
const NR = 8;
const MR = 4;
const KC = 256;
/** Rows of A per call, so that the A block (MC x KC floats, 128 KiB) stays in L2 across panels. */
const MC = 128;

interface GemmExports {
  readonly memory: WebAssembly.Memory;
  gemm_block(a: number, lda: number, p: number, kc: number, c: number, ldc: number, rowBlocks: number, panels: number): void;
}

let exports: GemmExports | undefined;
/** Float offset of each kept weight's packed panels, per layout (plain or transposed). */
let packed = [new WeakMap<Float32Array, number>(), new WeakMap<Float32Array, number>()];
/** First free float after the kept panels. */
let top = 0;
registerArena(() => {
  packed = [new WeakMap(), new WeakMap()];
  top = 0;
}, () => top * 4);

function instance(): GemmExports {
  if (!exports) {
    const bytes = Uint8Array.from(atob(WASM_BASE64), (ch) => ch.charCodeAt(0));
    exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as GemmExports;
  }
  return exports;
}

/** Whether this JavaScript engine runs WebAssembly SIMD (every current browser and Node >= 16). */
export function wasmSimdAvailable(): boolean {
  try {
    instance();
    return true;
  } catch {
    return false;
  }
}

function memoryFloats(wasm: GemmExports, floats: number): Float32Array | undefined {
  const bytes = floats * 4;
  const have = wasm.memory.buffer.byteLength;
  try {
    if (bytes > have) wasm.memory.grow(Math.ceil((bytes - have) / 65536));
  } catch {
    return undefined; // past WebAssembly's 4 GiB
  }
  return new Float32Array(wasm.memory.buffer);
}

/**
 * The float offset of B's packed panels kept in memory (packing them now, all k blocks, on first
 * use), or undefined when B is not a weight or does not fit: then the caller packs per call.
 */
function keptPanels(wasm: GemmExports, b: Float32Array, bOffset: number, n: number, np: number, k: number, transposeB: boolean): number | undefined {
  if (bOffset !== 0 || !isResident(b) || b.length !== n * k) return undefined;
  const kept = packed[transposeB ? 1 : 0]!;
  const at = kept.get(b);
  if (at !== undefined) return at;
  const mem = memoryFloats(wasm, top + k * np);
  if (!mem) {
    unmarkResident(b);
    return undefined;
  }
  for (let k0 = 0; k0 < k; k0 += KC) packPanels(mem, top + k0 * np, b, 0, n, np, k, k0, Math.min(KC, k - k0), transposeB);
  kept.set(b, top);
  top += k * np;
  return top - k * np;
}

export function gemmWasm(args: GemmArgs): void {
  const { a, aOffset, b, bOffset, c, cOffset, n, k, transposeB } = args;
  const rowStart = args.rowStart ?? 0;
  const rowEnd = args.rowEnd ?? args.m;
  const rows = rowEnd - rowStart;
  if (rows <= 0) return;
  const mp = Math.ceil(rows / MR) * MR;
  const np = Math.ceil(n / NR) * NR;
  const kc = Math.min(KC, k);
  const wasm = instance();
  const panelsAt = keptPanels(wasm, b, bOffset, n, np, k, transposeB);
  const aBase = top;
  const pBase = aBase + mp * k;
  const cBase = pBase + (panelsAt === undefined ? kc * np : 0);
  const mem = memoryFloats(wasm, cBase + mp * np);
  if (!mem) throw new RangeError('gemm: WebAssembly memory cannot grow to this product');
  mem.set(a.subarray(aOffset + rowStart * k, aOffset + rowEnd * k), aBase);
  mem.fill(0, aBase + rows * k, aBase + mp * k);
  mem.fill(0, cBase, cBase + mp * np);
  for (let k0 = 0; k0 < k; k0 += KC) {
    const depth = Math.min(KC, k - k0);
    let panels = pBase;
    if (panelsAt === undefined) packPanels(mem, pBase, b, bOffset, n, np, k, k0, depth, transposeB);
    else panels = panelsAt + k0 * np; // block k0 of the kept panels: every earlier block is KC deep
    for (let i0 = 0; i0 < mp; i0 += MC) {
      const blockRows = Math.min(MC, mp - i0);
      wasm.gemm_block((aBase + i0 * k + k0) * 4, k * 4, panels * 4, depth, (cBase + i0 * np) * 4, np * 4, blockRows / MR, np / NR);
    }
  }
  for (let i = 0; i < rows; i++) {
    const from = cBase + i * np;
    c.set(mem.subarray(from, from + n), cOffset + (rowStart + i) * n);
  }
}

/** B[k0 : k0+depth, :] into panels of NR columns, each `depth` rows of NR floats, zero-padded. */
function packPanels(mem: Float32Array, base: number, b: Float32Array, bOffset: number, n: number, np: number, k: number, k0: number, depth: number, transposeB: boolean): void {
  for (let j0 = 0; j0 < np; j0 += NR) {
    const width = Math.min(NR, n - j0);
    const panel = base + (j0 / NR) * depth * NR;
    if (transposeB) {
      // B is [N, K]: read each of the panel's rows of B contiguously, scatter with stride NR
      for (let jj = 0; jj < NR; jj++) {
        if (jj >= width) {
          for (let kk = 0; kk < depth; kk++) mem[panel + kk * NR + jj] = 0;
          continue;
        }
        const src = bOffset + (j0 + jj) * k + k0;
        for (let kk = 0; kk < depth; kk++) mem[panel + kk * NR + jj] = b[src + kk]!;
      }
      continue;
    }
    let dst = panel;
    for (let kk = 0; kk < depth; kk++, dst += NR) {
      const src = bOffset + (k0 + kk) * n + j0;
      for (let jj = 0; jj < width; jj++) mem[dst + jj] = b[src + jj]!;
      for (let jj = width; jj < NR; jj++) mem[dst + jj] = 0;
    }
  }
}

import { WASM_BASE64 } from '../wasm/gemm-wasm.ts';
import type { GemmArgs } from './gemm.ts';

/**
 * Drives the SIMD micro-kernel in ../wasm/gemm.wat: copies A into WebAssembly memory (rows padded to
 * a multiple of 4), packs B block by block into 8-wide column panels, accumulates C there (columns
 * padded to a multiple of 8), and copies the result out.
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

function memoryFloats(wasm: GemmExports, floats: number): Float32Array {
  const bytes = floats * 4;
  const have = wasm.memory.buffer.byteLength;
  if (bytes > have) wasm.memory.grow(Math.ceil((bytes - have) / 65536));
  return new Float32Array(wasm.memory.buffer);
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
  const aBase = 0;
  const pBase = aBase + mp * k;
  const cBase = pBase + kc * np;
  const mem = memoryFloats(wasm, cBase + mp * np);
  mem.set(a.subarray(aOffset + rowStart * k, aOffset + rowEnd * k), aBase);
  mem.fill(0, aBase + rows * k, pBase);
  mem.fill(0, cBase, cBase + mp * np);
  for (let k0 = 0; k0 < k; k0 += KC) {
    const depth = Math.min(KC, k - k0);
    packPanels(mem, pBase, b, bOffset, n, np, k, k0, depth, transposeB);
    for (let i0 = 0; i0 < mp; i0 += MC) {
      const blockRows = Math.min(MC, mp - i0);
      wasm.gemm_block((aBase + i0 * k + k0) * 4, k * 4, pBase * 4, depth, (cBase + i0 * np) * 4, np * 4, blockRows / MR, np / NR);
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
    let dst = base + (j0 / NR) * depth * NR;
    for (let kk = 0; kk < depth; kk++, dst += NR) {
      const kIndex = k0 + kk;
      if (transposeB) for (let jj = 0; jj < width; jj++) mem[dst + jj] = b[bOffset + (j0 + jj) * k + kIndex]!;
      else {
        const src = bOffset + kIndex * n + j0;
        for (let jj = 0; jj < width; jj++) mem[dst + jj] = b[src + jj]!;
      }
      for (let jj = width; jj < NR; jj++) mem[dst + jj] = 0;
    }
  }
}

import { WASM_BASE64 } from '../wasm/gemv-wasm.ts';
import type { GemmArgs } from './gemm.ts';
import { isResident, registerArena, unmarkResident } from './resident-weights.ts';

/**
 * One-row products (decoding) on the SIMD kernels of ../wasm/gemv.wat. Weights marked resident are
 * copied into WebAssembly memory on first use and stay there, so a decode step streams each weight
 * once from that memory; x and the result are copied in and out (k and n floats).
 */
interface GemvExports {
  readonly memory: WebAssembly.Memory;
  gemv_t(x: number, w: number, out: number, k: number, n: number): void;
  gemv_n(x: number, w: number, out: number, k: number, n: number): void;
}

let wasm: GemvExports | undefined;
/** Byte offset of each resident weight in wasm memory. */
let resident = new WeakMap<Float32Array, number>();
/** First free byte after the resident weights; scratch for x and out starts here. */
let top = 0;
registerArena(() => {
  resident = new WeakMap();
  top = 0;
}, () => top);

function instance(): GemvExports {
  if (!wasm) {
    const bytes = Uint8Array.from(atob(WASM_BASE64), (ch) => ch.charCodeAt(0));
    wasm = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as GemvExports;
  }
  return wasm;
}

function ensureBytes(w: GemvExports, bytes: number): boolean {
  const have = w.memory.buffer.byteLength;
  if (bytes <= have) return true;
  try {
    w.memory.grow(Math.ceil((bytes - have) / 65536));
    return true;
  } catch {
    return false; // past WebAssembly's 4 GiB: this weight stays in JavaScript
  }
}

/** Computes one row of C with the SIMD kernels when B is a resident-capable weight; false if it cannot. */
export function gemvWasm(args: GemmArgs, row: number): boolean {
  const { a, aOffset, b, bOffset, c, cOffset, n, k, transposeB } = args;
  if (!isResident(b) || k % 16 !== 0 || (!transposeB && n % 16 !== 0)) return false;
  const w = instance();
  let base = resident.get(b);
  if (base === undefined) {
    if (!ensureBytes(w, top + b.length * 4)) {
      unmarkResident(b);
      return false;
    }
    base = top;
    new Float32Array(w.memory.buffer, base, b.length).set(b);
    resident.set(b, base);
    top += Math.ceil((b.length * 4) / 16) * 16;
  }
  const xAt = top;
  const outAt = xAt + k * 4;
  if (!ensureBytes(w, outAt + n * 4)) return false;
  new Float32Array(w.memory.buffer, xAt, k).set(a.subarray(aOffset + row * k, aOffset + row * k + k));
  const weightAt = base + bOffset * 4;
  if (transposeB) w.gemv_t(xAt, weightAt, outAt, k, n);
  else w.gemv_n(xAt, weightAt, outAt, k, n);
  c.set(new Float32Array(w.memory.buffer, outAt, n), cOffset + row * n);
  return true;
}

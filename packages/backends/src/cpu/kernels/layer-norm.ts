import { runInHeap } from '../wasm-runtime/placement.ts';
import { f32Bits } from '../wasm-runtime/float-bits.ts';
import type { KernelSettings, WasmRuntime } from '../wasm-runtime/runtime.ts';
import { CHUNK_END, CHUNK_START } from '../wasm-runtime/thread-pool.ts';

/**
 * layer_norm(x (+ residual)) over the last axis of length d, rows split across threads, on the
 * WebAssembly kernel (two passes per row: the mean, then the variance about it).
 */
export function layerNormWasm(rt: WasmRuntime, s: KernelSettings, x: Float32Array, residual: Float32Array | undefined, gamma: Float32Array, beta: Float32Array, out: Float32Array, d: number, eps: number): void {
  const rows = d === 0 ? 0 : out.length / d;
  if (rows === 0) return;
  const epsBits = f32Bits(eps);
  runInHeap(rt, [x, residual, gamma.subarray(0, d), beta.subarray(0, d)], out, ([xAt, rAt, gAt, bAt], outAt) =>
    rt.parallel(s, 'layer_norm', [xAt!, rAt!, gAt!, bAt!, outAt, d, epsBits, CHUNK_START, CHUNK_END], rows, rows * d * 64 < s.parallelFrom ? 1 : s.threads),
  );
}

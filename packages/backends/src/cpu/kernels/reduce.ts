import { runInHeap } from '../wasm-runtime/placement.ts';
import type { KernelSettings, WasmRuntime } from '../wasm-runtime/runtime.ts';
import { CHUNK_END, CHUNK_START } from '../wasm-runtime/thread-pool.ts';
import { reduceAxes } from './normalize.ts';

/**
 * Sums and means of float32 over the trailing axes (one sum per row: a norm's backward) or the leading
 * axes (one sum per column: a bias's gradient) on the WebAssembly kernels, split across threads,
 * float64 accumulators (as the JavaScript loop's), rounded once. Axes of size 1 do not count. Other reductions (max, int32, axes in
 * the middle) run in JavaScript (normalize.ts).
 */

/** A reduction of fewer values than this many times `parallelFrom` stays on one thread (half a nanosecond a value; joining a job costs the workers tens of microseconds). */
const VALUES_PER_PRODUCT = 4;

export function reduceWasm(rt: WasmRuntime, s: KernelSettings, kind: 'sum' | 'mean' | 'max', x: Float32Array | Int32Array, out: Float32Array | Int32Array, shape: readonly number[], axes: readonly number[]): void {
  const total = x.length;
  // the axes that are not 1, reduced (R) or kept (K): rows when every kept one comes first, columns when last
  const pattern = shape.map((d, i) => (d === 1 ? '' : axes.includes(i) ? 'R' : 'K')).join('');
  const rows = /^K*R+$/.test(pattern);
  const columns = /^R+K+$/.test(pattern);
  if (kind === 'max' || !(x instanceof Float32Array) || !(out instanceof Float32Array) || total === 0 || (!rows && !columns)) return reduceAxes(kind, x, out, shape, axes);
  const count = total / out.length;
  const threads = total < VALUES_PER_PRODUCT * s.parallelFrom ? 1 : s.threads;
  runInHeap(rt, [x], out, ([xAt], outAt) => {
    if (rows) rt.parallel(s, 'sum_rows', [xAt!, outAt, count, CHUNK_START, CHUNK_END], out.length, threads);
    else rt.parallel(s, 'sum_columns', [xAt!, outAt, count, out.length, CHUNK_START, CHUNK_END], Math.ceil(out.length / 8), threads);
  });
  if (kind === 'mean') for (let i = 0; i < out.length; i++) out[i]! /= count;
}

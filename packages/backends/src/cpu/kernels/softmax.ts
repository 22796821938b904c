import { InputError } from '@loom/graph';
import { placeInHeap, runInHeap } from '../wasm-runtime/placement.ts';
import type { KernelSettings, WasmRuntime } from '../wasm-runtime/runtime.ts';
import { CHUNK_END, CHUNK_START } from '../wasm-runtime/thread-pool.ts';
import { softmaxAxis } from './normalize.ts';

/**
 * Softmax and softmax cross-entropy over the last axis on the WebAssembly kernels: e^x by a float64
 * SIMD polynomial and sums in float64, so a probability is rounded about once as in JavaScript (whose
 * Math.exp costs 10 ns a value), rows split across threads. Softmax over another axis stays in
 * JavaScript (normalize.ts).
 */

/** Below this many values a softmax stays on one thread (a few nanoseconds a value; joining a job costs the workers tens of microseconds). */
const PARALLEL_VALUES = 1 << 16;

export function softmaxWasm(rt: WasmRuntime, s: KernelSettings, x: Float32Array, out: Float32Array, shape: readonly number[], axis: number): void {
  const d = shape[axis]!;
  if (axis !== shape.length - 1 || d === 0 || out.length === 0) return softmaxAxis(x, out, shape, axis);
  const rows = out.length / d;
  runInHeap(rt, [x], out, ([xAt], outAt) => rt.parallel(s, 'softmax_rows', [xAt!, outAt, d, CHUNK_START, CHUNK_END], rows, out.length < PARALLEL_VALUES ? 1 : s.threads));
}

/**
 * Per row of `classes` logits: logsumexp(x) - ((1 - s) x[label] + s/V sum(x)), 0 where the label is
 * the ignore index (null: none is). The kernel gives each row's max, sum of e^(x - max) and sum of x;
 * the loss is put together here in float64. A label outside the classes is an InputError naming its position.
 */
export function softmaxCrossEntropyWasm(rt: WasmRuntime, s: KernelSettings, logits: Float32Array, labels: Int32Array, out: Float32Array, classes: number, ignoreIndex: number | null, smoothing: number): void {
  const rows = labels.length;
  for (let r = 0; r < rows; r++) {
    const label = labels[r]!;
    if (ignoreIndex !== null && label === ignoreIndex) continue;
    if (!(label >= 0 && label < classes)) throw new InputError(`softmax_cross_entropy: label ${label} at position ${r} is outside the ${classes} classes (and not the ignore index ${ignoreIndex})`);
  }
  if (rows === 0) return;
  if (classes === 0) return void out.fill(0);
  const {
    at: [xAt],
    extra: statsAt,
  } = placeInHeap(rt, [logits.subarray(0, rows * classes)], rows * 24);
  rt.parallel(s, 'softmax_stats', [xAt!, statsAt, classes, CHUNK_START, CHUNK_END], rows, rows * classes < PARALLEL_VALUES ? 1 : s.threads);
  const stats = new Float64Array(rt.heap.memory.buffer, statsAt, rows * 3);
  for (let r = 0; r < rows; r++) {
    const label = labels[r]!;
    if (ignoreIndex !== null && label === ignoreIndex) {
      out[r] = 0;
      continue;
    }
    const [max, sum, all] = [stats[3 * r]!, stats[3 * r + 1]!, stats[3 * r + 2]!];
    out[r] = max + Math.log(sum) - ((1 - smoothing) * logits[r * classes + label]! + (smoothing / classes) * all);
  }
}

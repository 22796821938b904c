import { compileElementwise, parsePlanKey, type ElementwiseWasmPlan } from '../wasm-codegen/elementwise-wasm.ts';
import { runInHeap } from '../wasm-runtime/placement.ts';
import type { KernelSettings, WasmRuntime } from '../wasm-runtime/runtime.ts';
import { CHUNK_END, CHUNK_START } from '../wasm-runtime/thread-pool.ts';

/**
 * Runs an elementwise kernel compiled to WebAssembly (wasm-codegen/elementwise-wasm.ts): the module
 * for the plan's key is made on first use, inputs outside the heap are copied in, and rows are split
 * across threads when there are at least twice `parallelFrom` values (a job costs the workers tens of
 * microseconds to join; a value costs about a nanosecond).
 */

/** Rows of a walk whose inputs are all full or scalar: the output cut into runs of this many values. */
const FLAT_ROW = 4096;
/** Values per claimed chunk at least (fewer cost more in claiming than they save). */
const CHUNK_VALUES = 8192;

const plans = new Map<string, ElementwiseWasmPlan>();

export function elementwiseWasm(rt: WasmRuntime, s: KernelSettings, key: string, ins: readonly (Float32Array | Int32Array)[], out: Float32Array | Int32Array, outShape: readonly number[]): void {
  const total = out.length;
  if (total === 0) return;
  let plan = plans.get(key);
  if (!plan) plans.set(key, (plan = parsePlanKey(key)));
  const module = rt.generatedModule(key, () => compileElementwise(plan));
  const n = plan.flat ? Math.min(FLAT_ROW, total) : (outShape[outShape.length - 1] ?? 1);
  if (n === 0) return;
  const rows = Math.ceil(total / n);
  runInHeap(rt, ins, out, (at, outAt) => rt.parallelGenerated(s, module, [CHUNK_START, CHUNK_END, n, total, outAt, ...at], rows, total < 2 * s.parallelFrom ? 1 : s.threads, Math.ceil(CHUNK_VALUES / n)));
}

/**
 * The messages between a page and the Worker that runs Loom (worker-runtime.ts on the page's side,
 * serve-worker.ts inside the Worker). Every request carries an id; the Worker answers it once
 * (`result` or `error`), and a task may first send any number of `value`s (a stream: generated
 * tokens). Tensors cross as NDArrays, their buffers transferred rather than copied where asked.
 */
import type { NDArray } from '@loom/graph';
import type { BackendName, PrepareOptions } from '../backend.ts';

/** Prepare options that can cross to a Worker: all but `state` (the Worker's model keeps its own states). */
export type WorkerPrepareOptions = Omit<PrepareOptions, 'state'>;

export type WorkerRequest =
  | { readonly id: number; readonly kind: 'weights'; readonly weights: Readonly<Record<string, NDArray>> }
  | { readonly id: number; readonly kind: 'release-weights'; readonly weights: number }
  | { readonly id: number; readonly kind: 'prepare'; readonly backend: BackendName; readonly graph: string; readonly weights: Readonly<Record<string, NDArray>> | number; readonly options: WorkerPrepareOptions }
  | { readonly id: number; readonly kind: 'run'; readonly model: number; readonly feeds: Readonly<Record<string, NDArray>> }
  | { readonly id: number; readonly kind: 'profile'; readonly model: number; readonly feeds: Readonly<Record<string, NDArray>> }
  | { readonly id: number; readonly kind: 'dispose'; readonly model: number }
  | { readonly id: number; readonly kind: 'task'; readonly task: string; readonly args: unknown }
  | { readonly id: number; readonly kind: 'cancel'; readonly task: number };

export type WorkerReply =
  | { readonly id: number; readonly kind: 'result'; readonly value: unknown }
  | { readonly id: number; readonly kind: 'value'; readonly value: unknown }
  | { readonly id: number; readonly kind: 'error'; readonly name: string; readonly message: string };

/**
 * Kernel times of one run: per plan step (the cpu backend, prepared with `cpu.profile`), or per graph
 * node (the GPU backends' timestamp queries).
 */
export interface KernelTimes {
  readonly steps?: readonly number[];
  readonly nodes?: readonly { readonly node: number; readonly ms: number }[];
}

/** The distinct ArrayBuffers behind some tensors (SharedArrayBuffers cannot be transferred and are left out). */
export function buffersOf(tensors: Iterable<NDArray>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const t of tensors) if (t.data.buffer instanceof ArrayBuffer && t.data.buffer.byteLength > 0) buffers.add(t.data.buffer);
  return [...buffers];
}

import type { IntermediateSpec } from '@loom/compiler';
import type { Graph, NDArray, Weights } from '@loom/graph';
import type { StateStore } from './state-store.ts';

/**
 * A backend turns a graph plus its weights into something that runs. Every backend computes the same
 * function as the float64 reference interpreter, within the tolerances its conformance tests state.
 */
export interface Backend {
  readonly name: BackendName;
  /** Compiles the graph and uploads the weights; the result runs many times. */
  prepare(graph: Graph, weights: Weights, options?: PrepareOptions): Promise<PreparedModel>;
}

export interface PrepareOptions {
  /**
   * Where states (graph inputs that an output of the same name updates, e.g. KV caches) live between
   * runs. A run may omit a state input: it then reads the stored value (zeros the first time). State
   * outputs are not returned by `run`; they update the store. Defaults to a store of the model's own.
   */
  readonly state?: StateStore;
  /**
   * Also output these intermediates (attention weights, chosen nodes; see withIntermediates in
   * @loom/compiler): every backend returns them next to the graph's outputs, computed by its own kernels.
   */
  readonly intermediates?: IntermediateSpec;
  /**
   * CPU only: poison mode, for testing memory plans and kernels. Dead intermediate values are
   * overwritten with NaN and buffers get guard zones, so a read after release or a write past a
   * buffer's end fails (see cpu/poison.ts). Also on with LOOM_CPU_POISON=1. Default false.
   */
  readonly poison?: boolean;
  /** CPU only: threads for matmuls and attention (default: the machine's; LOOM_CPU_THREADS overrides). */
  readonly threads?: number;
  /** CPU only: `relaxed` (FMA) or `plain` WebAssembly SIMD, or `auto` (relaxed where the engine has it; LOOM_CPU_SIMD overrides). */
  readonly simd?: 'auto' | 'relaxed' | 'plain';
  /** CPU only: `bf16` stores weights for one-row products (decoding) in bfloat16, half the bytes per token. Default `f32`. */
  readonly weightStore?: 'f32' | 'bf16';
  /**
   * cpu, webgl and webgpu: bytes the model and a run may hold (weights and the cpu's packed copies,
   * constants, intermediates, outputs, states); default three quarters of the machine's memory.
   * Over it, prepare or run throws a MemoryBudgetError with the numbers, before allocating.
   */
  readonly maxMemory?: number;
  /** CPU only: record the first kernel whose output holds a NaN or infinity (`program.nonFinite`), for error messages. */
  readonly traceNonFinite?: boolean;
  /** CPU only: time every kernel (`program.profile()`). */
  readonly profile?: boolean;
  /** CPU only, for tests: products below these multiply-add counts run in JavaScript / on one thread. */
  readonly smallProduct?: number;
  readonly parallelFrom?: number;
  /** CPU only: pause the worker threads while another process takes their cores (default true; tests of the split turn it off). */
  readonly pauseWhenContended?: boolean;
}

export interface PreparedModel {
  /** The states of this model (shared when one was passed to prepare). */
  readonly state: StateStore;
  run(feeds: Readonly<Record<string, NDArray>>): Promise<Record<string, NDArray>>;
  /**
   * The current value of a state, on the host. Backends that keep states in device memory (webgpu,
   * webgl) download it; elsewhere the StateStore holds the value itself.
   */
  readState?(name: string): Promise<NDArray>;
  /** Frees what the model holds (GPU buffers, workers). Running afterwards is an error. */
  dispose(): void;
}

export const BACKEND_NAMES = ['cpu', 'reference', 'webgl', 'webgpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

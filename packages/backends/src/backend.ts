import type { GivenQuantized, IntermediateSpec } from '@loom/compiler';
import type { Graph, NDArray, Weights } from '@loom/graph';
import type { CpuOptions } from './cpu/cpu-program.ts';
import type { StateStore } from './state-store.ts';
import type { WeightStore } from './weight-store.ts';

/**
 * A backend turns a graph plus its weights into something that runs. Every backend computes the same
 * function as the float64 reference interpreter, within the tolerances its conformance tests state.
 */
export interface Backend {
  readonly name: BackendName;
  /** Compiles the graph and uploads the weights; the result runs many times. */
  prepare(graph: Graph, weights: Weights, options?: PrepareOptions): Promise<PreparedModel>;
  /**
   * The length a sequence axis of `length` had better be padded to, on a backend that builds its
   * kernels for each concrete size (webgl: its shaders take sizes as constants): models pad their
   * prompts and sources to it, masked, so that lengths in one bucket share one set of kernels.
   * Absent where any length runs on the same kernels (cpu, webgpu: sizes are arguments there).
   */
  readonly sequenceBucket?: (length: number) => number;
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
   * cpu, webgl and webgpu: bytes the model and a run may hold (weights and the cpu's packed copies,
   * constants, intermediates, outputs, states); default three quarters of the machine's memory.
   * Over it, prepare or run throws a MemoryBudgetError with the numbers, before allocating.
   */
  readonly maxMemory?: number;
  /**
   * How matmul weights are held (weight-store.ts): `f32` (default), `q8` / `q4` (int8 / int4 codes in
   * groups of 32 with a scale each, or any WeightQuantization) on every backend, `bf16` on the cpu.
   */
  readonly weightStore?: WeightStore;
  /** Weights already quantized, by param name (a GGUF file's Q8_0, Q4_0, Q4_K and Q6_K blocks): products read them as they are, whatever the store. */
  readonly quantizedWeights?: ReadonlyMap<string, GivenQuantized>;
  /** How the cpu backend runs (threads, SIMD flavor, profiling, poison mode); the other backends ignore it. */
  readonly cpu?: CpuOptions;
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

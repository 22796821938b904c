import type { DType, Dim, Graph } from '@loom/graph';

/**
 * The compiler's output: backend-neutral, serializable data. Each step is one kernel, made from one
 * node of the compiled graph (a primitive or a fused op); buffers hold tensors between kernels.
 * A backend renders each step's node to its own source (JS, WGSL, GLSL) and runs the steps in order.
 */
export interface Plan {
  /** The compiled graph: only primitive, source and fused ops. Steps refer to its nodes. */
  readonly graph: Graph;
  readonly buffers: readonly PlanBuffer[];
  /** For each node of `graph`, the buffer that holds its value (views share their source's buffer). */
  readonly nodeBuffer: readonly number[];
  /** Kernels in execution order. */
  readonly steps: readonly PlanStep[];
  /**
   * Slices and transposes the plan made strided views (compiled with `stridedViews`): they have no
   * step and share their source's buffer; the backend reads them through strides.
   */
  readonly stridedViews?: readonly number[];
  /**
   * States whose next value a step wrote elsewhere than into the state's own buffer: after the last
   * step, buffer `from` is copied into the state's buffer `to` (absent when every state is updated in
   * place, as a KV cache's cache_update always is).
   */
  readonly stateWrites?: readonly StateWrite[];
  readonly stats: PlanStats;
}

/** A state's next value, copied into the state's buffer at the end of a run. */
export interface StateWrite {
  readonly name: string;
  readonly from: number;
  readonly to: number;
}

/** `state`: a graph input that the output of the same name replaces after each run (a KV cache, a weight being trained, an optimizer's moments). */
export type BufferKind = 'input' | 'param' | 'constant' | 'intermediate' | 'output' | 'state';

export interface PlanBuffer {
  readonly id: number;
  readonly kind: BufferKind;
  readonly dtype: DType;
  /** Element count, symbolic where the graph is (e.g. 'batch*seq*768'). */
  readonly size: Dim;
  /** For input/param buffers: the tensor name. */
  readonly name?: string;
}

export interface PlanStep {
  /** The node of `plan.graph` this kernel computes. */
  readonly node: number;
  readonly op: string;
  readonly inputs: readonly number[];
  readonly output: number;
  /** True when the output buffer is also one of the inputs (an in-place update). */
  readonly inPlace: boolean;
}

export interface PlanStats {
  readonly nodesBefore: number;
  readonly nodesAfter: number;
  readonly kernels: number;
  /** Intermediate bytes at the given symbol bindings: naive (one buffer per value) vs planned. */
  readonly naiveBytes: number;
  readonly plannedBytes: number;
  readonly bindings: Readonly<Record<string, number>>;
}

/** Ops that only reinterpret their input's buffer (no kernel, no copy). */
export const VIEW_OPS: ReadonlySet<string> = new Set(['reshape']);

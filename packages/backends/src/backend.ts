import type { Graph, NDArray, Weights } from '@loom/graph';

/**
 * A backend turns a graph plus its weights into something that runs. Every backend computes the same
 * function as the float64 reference interpreter, within the tolerances its conformance tests state.
 */
export interface Backend {
  readonly name: BackendName;
  /** Compiles the graph and uploads the weights; the result runs many times. */
  prepare(graph: Graph, weights: Weights): Promise<PreparedModel>;
}

export interface PreparedModel {
  run(feeds: Readonly<Record<string, NDArray>>): Promise<Record<string, NDArray>>;
  /** Frees what the model holds (GPU buffers, workers). Running afterwards is an error. */
  dispose(): void;
}

export const BACKEND_NAMES = ['cpu', 'reference', 'webgpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

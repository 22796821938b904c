import { checkQuantization, LoomError, Q4, Q8, type Graph, type WeightQuantization, type Weights } from '@loom/graph';
import { quantizeWeights, type GivenQuantized, type QuantizedWeight } from '@loom/compiler';
import type { BackendName } from './backend.ts';

/**
 * How a prepared model stores its matmul weights:
 * - `f32`: as given (exact);
 * - `bf16` (cpu only): decoding's one-row products read weights rounded to bfloat16;
 * - `q8`, `q4` or a WeightQuantization: every product with a rank-2 param weight reads int8 / int4
 *   codes with a scale per group (see quantizeWeights in @loom/compiler), on every backend.
 */
export type WeightStore = 'f32' | 'bf16' | 'q8' | 'q4' | WeightQuantization;

export const WEIGHT_STORE_NAMES = ['f32', 'bf16', 'q8', 'q4'] as const;

export class WeightStoreError extends LoomError {
  constructor(message: string) {
    super('weight-store', message);
  }
}

/** The quantization a store names, or undefined for the float stores. */
export function storeQuantization(store: WeightStore | undefined): WeightQuantization | undefined {
  if (store === undefined || store === 'f32' || store === 'bf16') return undefined;
  if (store === 'q8') return Q8;
  if (store === 'q4') return Q4;
  if (typeof store !== 'object' || store === null) throw new WeightStoreError(`unknown weight store '${String(store)}'; choose one of ${WEIGHT_STORE_NAMES.join(', ')} or a WeightQuantization`);
  checkQuantization(store);
  return store;
}

export interface StoredModel {
  readonly graph: Graph;
  readonly weights: Weights;
  /** The weights now held quantized (empty for the float stores). */
  readonly quantized: readonly QuantizedWeight[];
}

/**
 * The graph and weights a backend compiles for `store`: unchanged for f32 (and for the cpu's bf16,
 * which its kernels apply), rewritten to quantized products for q8 / q4. Weights `given` already
 * quantized (a GGUF file's blocks) are read as they are, whatever the store. bf16 on another backend
 * is an error naming it: nothing falls back to another store silently.
 */
export function applyWeightStore(backend: BackendName, graph: Graph, weights: Weights, store: WeightStore | undefined, given?: ReadonlyMap<string, GivenQuantized>): StoredModel {
  if (store === 'bf16' && backend !== 'cpu') throw new WeightStoreError(`${backend}: the bf16 weight store runs on the cpu backend only; use f32, q8 or q4 here`);
  const quantization = storeQuantization(store);
  if (!quantization && !given?.size) return { graph, weights, quantized: [] };
  return quantizeWeights(graph, weights, quantization, given);
}

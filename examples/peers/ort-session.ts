/**
 * One way to open onnxruntime-node sessions for every peer, so thread counts and optimization
 * settings are the same in all comparisons.
 */
import * as ort from 'onnxruntime-node';

export { ort };

/**
 * A CPU session on `threads` intra-op threads. Inter-op parallelism is off (one thread, sequential)
 * so `threads` is the whole budget, as for Loom's single-process runs.
 */
export function ortSession(model: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

/** Token ids as the int64 [1, T] tensor the peer graphs take. */
export function idsTensor(ids: readonly number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(ids, (id) => BigInt(id)), [1, ids.length]);
}

/** The float32 data of an output, by name. */
export function floatOutput(outputs: ort.InferenceSession.OnnxValueMapType, name: string): Float32Array {
  const value = outputs[name];
  if (!value || !(value.data instanceof Float32Array)) throw new Error(`onnxruntime: no float32 output ${name}`);
  return value.data;
}

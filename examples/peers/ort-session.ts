/**
 * One way to open onnxruntime sessions for every peer, so thread counts and optimization settings are
 * the same in all comparisons: onnxruntime-node (native, MLAS) or onnxruntime-web's wasm backend (what
 * transformers.js runs in a browser; here in Node, its threads as Web Workers on a SharedArrayBuffer).
 */
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';

export { ort };

export type OrtEngine = 'node' | 'web';

const engines = new WeakMap<object, OrtEngine>();

/**
 * A CPU session on `threads` intra-op threads. Inter-op parallelism is off (one thread, sequential)
 * so `threads` is the whole budget, as for Loom's single-process runs. onnxruntime-web takes its
 * thread count once per process (env.wasm.numThreads, before its first session).
 */
export async function ortSession(model: Uint8Array, threads: number, engine: OrtEngine = 'node'): Promise<ort.InferenceSession> {
  if (engine === 'web') {
    if (webThreads !== undefined && webThreads !== threads) throw new Error(`onnxruntime-web runs with ${webThreads} threads in this process; it cannot take ${threads}`);
    webThreads = threads;
    ortWeb.env.wasm.numThreads = threads;
    const session = await ortWeb.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all', executionMode: 'sequential' });
    engines.set(session, 'web');
    return session as unknown as ort.InferenceSession;
  }
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  engines.set(session, 'node');
  return session;
}

let webThreads: number | undefined;

/** A tensor of the engine `session` runs on (each engine takes only its own Tensor class). */
export function tensorFor(session: object, type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]): ort.Tensor {
  const Tensor = engines.get(session) === 'web' ? (ortWeb.Tensor as unknown as typeof ort.Tensor) : ort.Tensor;
  return new Tensor(type, data as never, [...dims]);
}

/** Token ids as the int64 [1, T] tensor the peer graphs take. */
export function idsTensor(ids: readonly number[], session: object): ort.Tensor {
  return tensorFor(session, 'int64', BigInt64Array.from(ids, (id) => BigInt(id)), [1, ids.length]);
}

/** The float32 data of an output, by name. */
export function floatOutput(outputs: ort.InferenceSession.OnnxValueMapType, name: string): Float32Array {
  const value = outputs[name];
  if (!value || !(value.data instanceof Float32Array)) throw new Error(`onnxruntime: no float32 output ${name}`);
  return value.data;
}

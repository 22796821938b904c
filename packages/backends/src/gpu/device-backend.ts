import type { Graph, Weights } from '@loom/graph';
import type { Backend, PrepareOptions, PreparedModel } from '../backend.ts';
import { applyWeightStore } from '../weight-store.ts';

/** What a device backend holds one of at a time: a WebGPU device, a GL context. */
export interface DeviceRuntime {
  readonly lost: boolean;
  /** Throws the backend's typed error when the device is gone. */
  checkAlive(what: string): void;
}

export interface DeviceBackend<R extends DeviceRuntime, M extends PreparedModel> extends Backend {
  prepare(graph: Graph, weights: Weights, options?: PrepareOptions): Promise<M>;
  /** The runtime (device, limits, caches), acquiring it on first use. */
  runtime(): Promise<R>;
}

/**
 * A backend over one device at a time: acquired on the first prepare and shared by the models
 * prepared through it; after the device is lost, the next prepare acquires a new one.
 */
export function deviceBackend<R extends DeviceRuntime, M extends PreparedModel>(
  name: 'webgpu' | 'webgl',
  acquire: () => Promise<R>,
  prepare: (runtime: R, graph: Graph, weights: Weights, options: PrepareOptions) => Promise<M>,
  sequenceBucket?: (length: number) => number,
): DeviceBackend<R, M> {
  let current: Promise<R> | undefined;
  const runtime = async (): Promise<R> => {
    if (current) {
      const r = await current.catch(() => undefined);
      if (r && !r.lost) return r;
    }
    current = acquire();
    return current;
  };
  return {
    name,
    runtime,
    ...(sequenceBucket ? { sequenceBucket } : {}),
    async prepare(graph, weights, options = {}) {
      const r = await runtime();
      r.checkAlive('prepare');
      const stored = applyWeightStore(name, graph, weights, options.weightStore, options.quantizedWeights);
      return prepare(r, stored.graph, stored.weights, options);
    },
  };
}

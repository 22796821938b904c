import { compile } from '@loom/compiler';
import type { Graph, Weights } from '@loom/graph';
import type { Backend, PrepareOptions } from '../backend.ts';
import { backendCompileOptions } from '../compile-options.ts';
import { GlRuntime, type GlRuntimeOptions } from './runtime.ts';
import { WebGlModel } from './webgl-model.ts';

export type WebGlBackendOptions = GlRuntimeOptions;

export interface WebGlBackend extends Backend {
  prepare(graph: Graph, weights: Weights, options?: PrepareOptions): Promise<WebGlModel>;
  /** The runtime (GL context, gpu.js, limits), acquiring the context on first use. */
  runtime(): Promise<GlRuntime>;
}

/**
 * A WebGL backend (gpu.js on WebGL2 in a browser, on headless-gl in Node). The context is acquired
 * on the first prepare and shared by the models prepared through this backend; after a context loss
 * the next prepare acquires a new one.
 */
export function createWebGlBackend(options: WebGlBackendOptions = {}): WebGlBackend {
  let current: Promise<GlRuntime> | undefined;
  const runtime = async (): Promise<GlRuntime> => {
    if (current) {
      const r = await current.catch(() => undefined);
      if (r && !r.lost) return r;
    }
    current = GlRuntime.create(options);
    return current;
  };
  return {
    name: 'webgl',
    runtime,
    async prepare(graph: Graph, weights: Weights, prepareOptions: PrepareOptions = {}): Promise<WebGlModel> {
      const r = await runtime();
      r.checkAlive('prepare');
      return WebGlModel.create(r, compile(graph, { ...backendCompileOptions('webgl'), intermediates: prepareOptions.intermediates }), weights, prepareOptions.state, prepareOptions.maxMemory);
    },
  };
}

/** The default WebGL backend (what getBackend('webgl') returns). */
export const webglBackend: WebGlBackend = createWebGlBackend();

import { compile } from '@loom/compiler';
import { backendCompileOptions } from '../compile-options.ts';
import { deviceBackend, type DeviceBackend } from '../gpu/device-backend.ts';
import { GlRuntime, type GlRuntimeOptions } from './runtime.ts';
import { WebGlModel } from './webgl-model.ts';

export type WebGlBackendOptions = GlRuntimeOptions;

export type WebGlBackend = DeviceBackend<GlRuntime, WebGlModel>;

/** A WebGL backend (gpu.js on WebGL2 in a browser, on headless-gl in Node); see gpu/device-backend.ts for how it holds its context. */
export function createWebGlBackend(options: WebGlBackendOptions = {}): WebGlBackend {
  return deviceBackend(
    'webgl',
    () => GlRuntime.create(options),
    (runtime, graph, weights, prepare) =>
      WebGlModel.create(runtime, compile(graph, { ...backendCompileOptions('webgl'), intermediates: prepare.intermediates }), weights, { state: prepare.state, maxMemory: prepare.maxMemory }),
  );
}

/** The default WebGL backend (what getBackend('webgl') returns). */
export const webglBackend: WebGlBackend = createWebGlBackend();

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
    powerOfTwoBucket,
  );
}

/**
 * Sequence lengths in buckets of powers of two, 16 at least: a shader takes its sizes as constants,
 * so each new prompt or source length built a new set (GPT-2 tiny's prefill: 28 kernels, 0.3-2.4 s
 * on llvmpipe); padded, lengths 1 to 16 share one, 17 to 32 the next: a prefill computes up to
 * max(16, twice its tokens) positions.
 */
export function powerOfTwoBucket(length: number): number {
  return Math.max(16, 2 ** Math.ceil(Math.log2(length)));
}

/** The default WebGL backend (what getBackend('webgl') returns). */
export const webglBackend: WebGlBackend = createWebGlBackend();

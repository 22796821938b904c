import { compile } from '@loom/compiler';
import type { Graph, Weights } from '@loom/graph';
import type { Backend, PrepareOptions } from '../backend.ts';
import { backendCompileOptions } from '../compile-options.ts';
import { acquireDevice, type AcquireOptions, type DeviceLimits } from './gpu-provider.ts';
import { GpuRuntime } from './runtime.ts';
import { kernelFor } from './kernel-table.ts';
import { WebGpuModel } from './webgpu-model.ts';

export interface WebGpuBackendOptions extends AcquireOptions {
  /**
   * Lower some device limits, e.g. { maxStorageBufferBindingSize: 1 << 16 } to exercise the
   * chunked paths in tests. Values above what the device granted are not honoured by the device.
   */
  readonly limits?: Partial<DeviceLimits>;
}

export interface WebGpuBackend extends Backend {
  prepare(graph: Graph, weights: Weights, options?: PrepareOptions): Promise<WebGpuModel>;
  /** The runtime (device, limits, pipeline cache), acquiring the device on first use. */
  runtime(): Promise<GpuRuntime>;
}

/**
 * A WebGPU backend. The device is acquired on the first prepare and shared by the models prepared
 * through this backend; after a device loss the next prepare acquires a new one.
 */
export function createWebGpuBackend(options: WebGpuBackendOptions = {}): WebGpuBackend {
  let current: Promise<GpuRuntime> | undefined;
  const runtime = async (): Promise<GpuRuntime> => {
    if (current) {
      const r = await current.catch(() => undefined);
      if (r && !r.lost) return r;
    }
    current = acquireDevice(options).then((acquired) => new GpuRuntime(acquired, options.limits));
    return current;
  };
  return {
    name: 'webgpu',
    runtime,
    async prepare(graph: Graph, weights: Weights, prepareOptions: PrepareOptions = {}): Promise<WebGpuModel> {
      const r = await runtime();
      r.checkAlive('prepare');
      return WebGpuModel.create(r, compile(graph, { ...backendCompileOptions('webgpu'), intermediates: prepareOptions.intermediates }), weights, { kernels: kernelFor, state: prepareOptions.state, maxMemory: prepareOptions.maxMemory });
    },
  };
}

/** The default WebGPU backend (what getBackend('webgpu') returns). */
export const webgpuBackend: WebGpuBackend = createWebGpuBackend();

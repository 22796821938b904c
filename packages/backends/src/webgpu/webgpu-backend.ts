import { compile } from '@loom/compiler';
import { backendCompileOptions } from '../compile-options.ts';
import { deviceBackend, type DeviceBackend } from '../gpu/device-backend.ts';
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

export type WebGpuBackend = DeviceBackend<GpuRuntime, WebGpuModel>;

/** A WebGPU backend (Dawn in Node, `navigator.gpu` in a browser); see gpu/device-backend.ts for how it holds its device. */
export function createWebGpuBackend(options: WebGpuBackendOptions = {}): WebGpuBackend {
  return deviceBackend(
    'webgpu',
    () => acquireDevice(options).then((acquired) => new GpuRuntime(acquired, options.limits)),
    (runtime, graph, weights, prepare) =>
      WebGpuModel.create(runtime, compile(graph, { ...backendCompileOptions('webgpu'), intermediates: prepare.intermediates }), weights, { kernels: kernelFor, state: prepare.state, maxMemory: prepare.maxMemory }),
  );
}

/** The default WebGPU backend (what getBackend('webgpu') returns). */
export const webgpuBackend: WebGpuBackend = createWebGpuBackend();

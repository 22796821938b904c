export { webgpuBackend, createWebGpuBackend, type WebGpuBackend, type WebGpuBackendOptions } from './webgpu-backend.ts';
export { WebGpuModel, type WebGpuMemoryStats, type WebGpuModelOptions } from './webgpu-model.ts';
export { GpuRuntime } from './runtime.ts';
export { acquireDevice, deviceLimits, SPEC_DEFAULT_LIMITS, type DeviceLimits, type AcquiredDevice, type AcquireOptions } from './gpu-provider.ts';
export { renderPlan, type RenderedStep } from './step-context.ts';
export type { KernelLaunch, StorageBinding } from './kernel.ts';
export { WEBGPU_KERNELS, kernelFor } from './kernel-table.ts';
export * from './errors.ts';
export { GpuDeviceLostError, GpuDisposedError, GpuKernelError, GpuLimitError, GpuUnavailableError, GpuUnsupportedOpError, type GpuBackendName } from '../gpu/errors.ts';

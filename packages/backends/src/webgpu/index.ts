export { webgpuBackend, createWebGpuBackend, type WebGpuBackend, type WebGpuBackendOptions } from './webgpu-backend.ts';
export { WebGpuModel, type WebGpuMemoryStats } from './webgpu-model.ts';
export { GpuRuntime } from './runtime.ts';
export { acquireDevice, type DeviceLimits, type AcquiredDevice, type AcquireOptions } from './gpu-provider.ts';
export { WEBGPU_KERNELS, kernelFor } from './kernel-table.ts';
export * from './errors.ts';

/// <reference types="@webgpu/types" preserve="true" />
export * from './backend.ts';
export { renderStep } from './cpu/render/render-step.ts';
export { cpuBackend } from './cpu/cpu-backend.ts';
export { backendCompileOptions, type CompiledBackendName } from './compile-options.ts';
export { browserBundleOptions } from './browser-bundle.ts';
export { referenceBackend } from './reference-backend.ts';
export { getBackend, isBackendName, UnknownBackendError, withPrepareOptions } from './registry.ts';
export { StateStore } from './state-store.ts';
export { CpuProgram, type CpuKernel, type CpuOptions } from './cpu/cpu-program.ts';
export { verify, randomWeights, verifySizeLimits, type VerifyOptions, type VerifyReport, type BackendAgreement, type RunResult } from './verify.ts';
// WebGPU loads its native bindings (Node) lazily, at the first device request
export { webgpuBackend, createWebGpuBackend, kernelFor, renderPlan, SPEC_DEFAULT_LIMITS, type WebGpuBackend, type WebGpuBackendOptions, type KernelLaunch, type RenderedStep } from './webgpu/index.ts';
// WebGL acquires its GL context (headless-gl and an X display in Node) lazily, at the first prepare
export { webglBackend, createWebGlBackend, WebGlModel, type WebGlBackend, type WebGlBackendOptions } from './webgl/index.ts';
export { firstNonFinite, NonFiniteError, requireFiniteOutputs, type NonFiniteTrace } from './finite-outputs.ts';
export { DEFAULT_MEMORY_SHARE, defaultMaxMemory, formatBytes, MemoryBudgetError } from './memory-budget.ts';
export { maxThreads, resolveThreads, ThreadCountError, WORKER_BYTES } from './cpu/cpu-threads.ts';
export { GpuDeviceLostError, GpuDisposedError, GpuKernelError, GpuLimitError, GpuUnavailableError, GpuUnsupportedOpError, type GpuBackendName } from './gpu/errors.ts';
export { applyWeightStore, storeQuantization, WeightStoreError, WEIGHT_STORE_NAMES, type StoredModel, type WeightStore } from './weight-store.ts';
export type { GivenQuantized } from '@loom/compiler';

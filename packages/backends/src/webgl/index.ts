export { webglBackend, createWebGlBackend, type WebGlBackend, type WebGlBackendOptions } from './webgl-backend.ts';
export { WebGlModel, I32_EXACT_LIMIT, type GlPassTiming } from './webgl-model.ts';
export { GlRuntime, type GlRuntimeOptions } from './runtime.ts';
export { WEBGL_KERNELS, glKernelFor } from './kernel-table.ts';
export type { GlLimits, GlPass } from './kernel.ts';
export * from './errors.ts';

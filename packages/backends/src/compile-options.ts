import { cpuPipeline, gpuPipeline, type CompileOptions } from '@loom/compiler';

export type CompiledBackendName = 'cpu' | 'webgpu' | 'webgl';

/**
 * What each compiled backend's prepare passes to compile(), in one place, so that whatever else
 * compiles "as the backend does" (the TypeScript export, `loom inspect`'s graph and plan views) gets
 * the same plan. The cpu updates buffers in place, reads reshapes and slices as strided views and
 * runs its own pipeline (cpuPipeline fuses for its kernels); the GPU backends write every step to a
 * fresh binding (no in-place) and run the default pipeline, with int8-activation products split in two (gpuPipeline).
 */
export function backendCompileOptions(backend: CompiledBackendName): CompileOptions {
  return backend === 'cpu' ? { inPlace: true, stridedViews: true, passes: cpuPipeline } : { inPlace: false, passes: gpuPipeline };
}

import { LoomError } from '@loom/graph';
import { GpuDeviceLostError, GpuDisposedError, GpuKernelError, GpuLimitError, GpuUnavailableError, GpuUnsupportedOpError } from '../gpu/errors.ts';

/**
 * The WebGPU backend's failures: the GPU errors of gpu/errors.ts with the backend filled in, and
 * running out of GPU memory, which only WebGPU reports.
 */

/** No WebGPU adapter could be acquired (no `navigator.gpu`, no `webgpu` package, no driver). */
export class WebGpuUnavailableError extends GpuUnavailableError {
  constructor(message: string) {
    super('webgpu', message);
  }
}

/** The GPU device was lost (driver reset, `device.destroy()`, out of resources). The model must be prepared again. */
export class DeviceLostError extends GpuDeviceLostError {
  constructor(reason: string, message: string) {
    super('webgpu', reason, message);
  }
}

/** A GPU allocation failed (pushErrorScope('out-of-memory') reported an error). */
export class GpuOutOfMemoryError extends LoomError {
  constructor(message: string) {
    super('webgpu-out-of-memory', `webgpu: out of GPU memory: ${message}`);
  }
}

/** The graph holds an op this backend has no kernel for. */
export class UnsupportedOpError extends GpuUnsupportedOpError {
  constructor(op: string, message: string) {
    super('webgpu', op, message);
  }
}

/** A tensor or a dispatch exceeds a device limit (buffer size, binding size, workgroup count). */
export class WebGpuLimitError extends GpuLimitError {
  constructor(message: string) {
    super('webgpu', message);
  }
}

/** The model was disposed; running it again is a usage error. */
export class ModelDisposedError extends GpuDisposedError {
  constructor() {
    super('webgpu');
  }
}

/** A kernel failed validation or compilation: a bug in the renderer, reported with the op and WGSL. */
export class KernelError extends GpuKernelError {
  constructor(message: string) {
    super('webgpu', message);
  }
}

import { LoomError } from '@loom/graph';

/**
 * Typed failures of the WebGPU backend. Each names what went wrong in terms a user can act on (the
 * op, the tensor, the limit) and never falls back silently to another backend.
 */

/** No WebGPU adapter could be acquired (no `navigator.gpu`, no `webgpu` package, no driver). */
export class WebGpuUnavailableError extends LoomError {
  constructor(message: string) {
    super('webgpu-unavailable', `webgpu: ${message}`);
  }
}

/** The GPU device was lost (driver reset, `device.destroy()`, out of resources). The model must be prepared again. */
export class DeviceLostError extends LoomError {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super('webgpu-device-lost', `webgpu: device lost (${reason}): ${message}`);
  }
}

/** A GPU allocation failed (pushErrorScope('out-of-memory') reported an error). */
export class GpuOutOfMemoryError extends LoomError {
  constructor(message: string) {
    super('webgpu-out-of-memory', `webgpu: out of GPU memory: ${message}`);
  }
}

/** The graph holds an op this backend has no kernel for. */
export class UnsupportedOpError extends LoomError {
  constructor(
    readonly op: string,
    message: string,
  ) {
    super('webgpu-unsupported-op', `webgpu: no kernel for op '${op}': ${message}`);
  }
}

/** A tensor or a dispatch exceeds a device limit (buffer size, binding size, workgroup count). */
export class GpuLimitError extends LoomError {
  constructor(message: string) {
    super('webgpu-limit', `webgpu: ${message}`);
  }
}

/** The model was disposed; running it again is a usage error. */
export class ModelDisposedError extends LoomError {
  constructor() {
    super('disposed', 'webgpu: the model was disposed');
  }
}

/** A kernel failed validation or compilation: a bug in the renderer, reported with the op and WGSL. */
export class KernelError extends LoomError {
  constructor(message: string) {
    super('webgpu-kernel', `webgpu: ${message}`);
  }
}

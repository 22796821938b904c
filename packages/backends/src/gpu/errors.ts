import { LoomError } from '@loom/graph';

/**
 * Typed failures of the GPU backends, one set for WebGPU and WebGL: each names its backend and what
 * went wrong in terms a user can act on (the op, the tensor, the limit), and none falls back silently
 * to another backend. Catch `GpuLimitError` to handle a limit of either backend; the per-backend
 * names (webgpu/errors.ts, webgl/errors.ts) are these classes with the backend filled in.
 */
export type GpuBackendName = 'webgpu' | 'webgl';

/** No device: no `navigator.gpu` or `webgpu` package or driver; no WebGL context (no `gl` package, no X display). */
export class GpuUnavailableError extends LoomError {
  constructor(
    readonly backend: GpuBackendName,
    message: string,
  ) {
    super(`${backend}-unavailable`, `${backend}: ${message}`);
  }
}

/** The device or GL context was lost (a driver reset, destroy(), out of resources): prepare the model again. */
export class GpuDeviceLostError extends LoomError {
  constructor(
    readonly backend: GpuBackendName,
    readonly reason: string,
    message: string,
  ) {
    super(`${backend}-device-lost`, backend === 'webgl' ? `webgl: the GL context was lost: ${message}` : `${backend}: device lost (${reason}): ${message}`);
  }
}

/** A tensor, a dispatch or a kernel exceeds a limit of the device (buffer or texture size, bindings, loop iterations). */
export class GpuLimitError extends LoomError {
  constructor(
    readonly backend: GpuBackendName,
    message: string,
  ) {
    super(`${backend}-limit`, `${backend}: ${message}`);
  }
}

/** The graph holds an op this backend has no kernel for. */
export class GpuUnsupportedOpError extends LoomError {
  constructor(
    readonly backend: GpuBackendName,
    readonly op: string,
    message: string,
  ) {
    super(`${backend}-unsupported-op`, `${backend}: no kernel for op '${op}': ${message}`);
  }
}

/** A generated kernel failed to compile, link or validate: a bug in the renderer, reported with the op and the source. */
export class GpuKernelError extends LoomError {
  constructor(
    readonly backend: GpuBackendName,
    message: string,
  ) {
    super(`${backend}-kernel`, `${backend}: ${message}`);
  }
}

/** The model was disposed; running it again is a usage error. */
export class GpuDisposedError extends LoomError {
  constructor(readonly backend: GpuBackendName) {
    super('disposed', `${backend}: the model was disposed`);
  }
}

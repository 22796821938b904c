import { LoomError } from '@loom/graph';
import { GpuDeviceLostError, GpuDisposedError, GpuKernelError, GpuLimitError, GpuUnavailableError, GpuUnsupportedOpError } from '../gpu/errors.ts';

/**
 * The WebGL backend's failures: the GPU errors of gpu/errors.ts with the backend filled in, and
 * gpu.js's silent fallback, which only WebGL has.
 */

/** No WebGL context: no `gl` package, no X display for headless-gl, no WebGL2 in this browser. */
export class WebGlUnavailableError extends GpuUnavailableError {
  constructor(message: string) {
    super('webgl', message);
  }
}

/** gpu.js built a kernel of another class than the GL one asked for (its silent CPU / WebAssembly fallback). */
export class WebGlFallbackError extends LoomError {
  constructor(
    readonly kernelClass: string,
    message: string,
  ) {
    super('webgl-fallback', `webgl: ${message}`);
  }
}

/** The GL context was lost (driver reset, `WEBGL_lose_context`, destroyed). The model must be prepared again. */
export class WebGlContextLostError extends GpuDeviceLostError {
  constructor(message: string) {
    super('webgl', 'context lost', message);
  }
}

/** A tensor or a kernel exceeds a limit of the context (texture size, texture units, loop iterations). */
export class WebGlLimitError extends GpuLimitError {
  constructor(message: string) {
    super('webgl', message);
  }
}

/** The graph holds an op this backend has no kernel for. */
export class WebGlUnsupportedOpError extends GpuUnsupportedOpError {
  constructor(op: string, message: string) {
    super('webgl', op, message);
  }
}

/** A generated kernel failed to compile or link: a bug in the renderer, reported with the op and the GLSL. */
export class WebGlKernelError extends GpuKernelError {
  constructor(message: string) {
    super('webgl', message);
  }
}

/** The model was disposed; running it again is a usage error. */
export class WebGlDisposedError extends GpuDisposedError {
  constructor() {
    super('webgl');
  }
}

import { LoomError } from '@loom/graph';

/**
 * Typed failures of the WebGL backend. Each names what went wrong in terms a user can act on (the
 * op, the tensor, the limit, the command to run) and never falls back silently to another backend.
 */

/** No WebGL context: no `gl` package, no X display for headless-gl, no WebGL2 in this browser. */
export class WebGlUnavailableError extends LoomError {
  constructor(message: string) {
    super('webgl-unavailable', `webgl: ${message}`);
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
export class WebGlContextLostError extends LoomError {
  constructor(message: string) {
    super('webgl-context-lost', `webgl: the GL context was lost: ${message}`);
  }
}

/** A tensor or a kernel exceeds a limit of the context (texture size, texture units). */
export class WebGlLimitError extends LoomError {
  constructor(message: string) {
    super('webgl-limit', `webgl: ${message}`);
  }
}

/** The graph holds an op this backend has no kernel for. */
export class WebGlUnsupportedOpError extends LoomError {
  constructor(
    readonly op: string,
    message: string,
  ) {
    super('webgl-unsupported-op', `webgl: no kernel for op '${op}': ${message}`);
  }
}

/** A generated kernel failed to compile or link: a bug in the renderer, reported with the op and the GLSL. */
export class WebGlKernelError extends LoomError {
  constructor(message: string) {
    super('webgl-kernel', `webgl: ${message}`);
  }
}

/** The model was disposed; running it again is a usage error. */
export class WebGlDisposedError extends LoomError {
  constructor() {
    super('disposed', 'webgl: the model was disposed');
  }
}

import { LoomError } from '@loom/graph';
import { BACKEND_NAMES, type Backend, type BackendName, type PrepareOptions } from './backend.ts';
import { cpuBackend } from './cpu/cpu-backend.ts';
import { referenceBackend } from './reference-backend.ts';

/** Backends that need no setup; WebGPU and WebGL are loaded on demand because they pull in native bindings. */
const loaders: Record<BackendName, () => Promise<Backend>> = {
  cpu: async () => cpuBackend,
  reference: async () => referenceBackend,
  webgl: async () => (await import('./webgl/webgl-backend.ts')).webglBackend,
  webgpu: async () => (await import('./webgpu/webgpu-backend.ts')).webgpuBackend,
};

export class UnknownBackendError extends LoomError {
  constructor(name: string) {
    super('unknown-backend', `unknown backend '${name}'; choose one of ${BACKEND_NAMES.join(', ')}`);
  }
}

export function isBackendName(name: string): name is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(name);
}

/** The backend called `name`; with `options`, one whose prepare always applies them (e.g. the cpu's threads). */
export async function getBackend(name: string, options?: PrepareOptions): Promise<Backend> {
  if (!isBackendName(name)) throw new UnknownBackendError(name);
  const backend = await loaders[name]();
  return options ? withPrepareOptions(backend, options) : backend;
}

/** `backend`, preparing every model with `fixed` merged into the caller's options (`cpu` settings merged key by key). */
export function withPrepareOptions(backend: Backend, fixed: PrepareOptions): Backend {
  return {
    name: backend.name,
    ...(backend.sequenceBucket ? { sequenceBucket: backend.sequenceBucket } : {}),
    prepare: (graph, weights, options) => {
      const cpu = options?.cpu || fixed.cpu ? { cpu: { ...options?.cpu, ...fixed.cpu } } : {};
      return backend.prepare(graph, weights, { ...options, ...fixed, ...cpu });
    },
  };
}

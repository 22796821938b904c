import { LoomError } from '@loom/graph';
import { BACKEND_NAMES, type Backend, type BackendName } from './backend.ts';
import { cpuBackend } from './cpu/cpu-backend.ts';
import { referenceBackend } from './reference-backend.ts';

/** Backends that need no setup; WebGPU is loaded on demand because it pulls in native bindings. */
const loaders: Record<BackendName, () => Promise<Backend>> = {
  cpu: async () => cpuBackend,
  reference: async () => referenceBackend,
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

export async function getBackend(name: string): Promise<Backend> {
  if (!isBackendName(name)) throw new UnknownBackendError(name);
  return loaders[name]();
}

import type { Backend, BackendName } from '../../src/index.ts';
import { cpuBackend } from '../../src/index.ts';
import { requireBackend } from '../require-backend.ts';

/**
 * The backend a suite runs on: the cpu backend always; webgpu and webgl through requireBackend
 * (locally skipped with a printed reason when absent; a failure under LOOM_REQUIRE_BACKENDS, as in CI).
 */
export async function suiteBackend(name: BackendName): Promise<Backend | undefined> {
  if (name === 'cpu') return cpuBackend;
  return (await requireBackend(name)).backend;
}

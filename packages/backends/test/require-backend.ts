import type { Backend, BackendName } from '../src/index.ts';
import { getBackend } from '../src/index.ts';

export interface RequiredBackend<B extends Backend = Backend> {
  /** The backend, or undefined when it is not available here (then `reason` says why). */
  readonly backend: B | undefined;
  readonly reason: string;
}

/** Whether CI demands this backend (env LOOM_REQUIRE_BACKENDS, comma-separated names). */
export function backendRequired(name: BackendName): boolean {
  return (process.env['LOOM_REQUIRE_BACKENDS'] ?? '').split(/[,\s]+/).includes(name);
}

/**
 * Gets a backend for a test file, probing that it can really run (for webgpu: an adapter and a
 * device; for webgl: a GL context). When it cannot: prints the reason and returns no backend, so the suite skips locally;
 * but when LOOM_REQUIRE_BACKENDS names it (CI), throws, so the suite fails.
 *
 *   const { backend: gpu } = await requireBackend('webgpu');
 *   describe.skipIf(!gpu)('webgpu ...', () => { ... });
 */
export async function requireBackend(name: BackendName): Promise<RequiredBackend> {
  try {
    const backend = await getBackend(name);
    // webgpu: an adapter and a device; webgl: a GL context (headless-gl on an X display in Node)
    if (name === 'webgpu' || name === 'webgl') await (backend as unknown as { runtime(): Promise<unknown> }).runtime();
    return { backend, reason: '' };
  } catch (e) {
    const reason = `${name} backend unavailable: ${(e as Error).message}`;
    if (backendRequired(name)) throw new Error(`${reason} (required by LOOM_REQUIRE_BACKENDS=${process.env['LOOM_REQUIRE_BACKENDS']})`);
    console.warn(`SKIP ${reason}`);
    return { backend: undefined, reason };
  }
}

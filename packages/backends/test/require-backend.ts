import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, BackendName } from '../src/index.ts';
import { getBackend } from '../src/index.ts';

/** The Vulkan driver that Debian's chromium ships (SwiftShader); used when VK_ICD_FILENAMES is unset. */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

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
  if (name === 'webgpu') defaultWebGpuEnv();
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

/**
 * Points the Vulkan loader at SwiftShader when nothing else was chosen, and gives the driver a
 * private XDG_RUNTIME_DIR. Must run before the first `create()` of the `webgpu` package.
 */
export function defaultWebGpuEnv(): void {
  if (!process.env['VK_ICD_FILENAMES'] && !process.env['VK_DRIVER_FILES'] && existsSync(SWIFTSHADER_ICD)) {
    process.env['VK_ICD_FILENAMES'] = SWIFTSHADER_ICD;
  }
  if (!process.env['XDG_RUNTIME_DIR']) {
    const dir = join(tmpdir(), `loom-xdg-${process.getuid?.() ?? 'user'}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env['XDG_RUNTIME_DIR'] = dir;
  }
}

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * requireBackend('webgpu') without a usable Vulkan driver: locally the suite skips with a printed
 * reason; under LOOM_REQUIRE_BACKENDS=webgpu (CI) it fails. Run in child processes, whose Vulkan
 * loader sees only a driver file that does not exist.
 */
const helper = fileURLToPath(new URL('./require-backend.ts', import.meta.url));
const script = `const { requireBackend } = await import(${JSON.stringify(helper)}); const r = await requireBackend('webgpu'); console.log('backend:', r.backend ? 'yes' : 'no');`;

function probe(requireEnv: string | undefined): { status: number | null; out: string } {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' };
  delete env['LOOM_REQUIRE_BACKENDS'];
  if (requireEnv) env['LOOM_REQUIRE_BACKENDS'] = requireEnv;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('requireBackend', () => {
  it('skips with a printed reason when no adapter is found', () => {
    const { status, out } = probe(undefined);
    expect(out).toMatch(/SKIP webgpu backend unavailable: webgpu: no GPU adapter found/);
    expect(out).toMatch(/backend: no/);
    expect(status).toBe(0);
  });

  it('fails when LOOM_REQUIRE_BACKENDS names webgpu', () => {
    const { status, out } = probe('cpu,webgpu');
    expect(out).toMatch(/webgpu backend unavailable: .*no GPU adapter found.*required by LOOM_REQUIRE_BACKENDS=cpu,webgpu/);
    expect(status).not.toBe(0);
  });
});

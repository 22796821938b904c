import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { driverCandidates, KNOWN_DRIVERS, noDriverAdvice, SYSTEM_DRIVER_FOLDERS, useDriver } from '../src/webgpu/vulkan-drivers.ts';
import { backendRequired } from './require-backend.ts';

/** A file system holding exactly `files`. */
function fakeFs(files: readonly string[]) {
  return {
    existsSync: (path: string) => files.some((f) => f === path || f.startsWith(`${path}/`)),
    readdirSync: (dir: string) => files.filter((f) => f.startsWith(`${dir}/`)).map((f) => f.slice(dir.length + 1)),
  };
}

const swiftshader = KNOWN_DRIVERS.find((d) => d.includes('swiftshader'))!;

describe('finding a Vulkan driver', () => {
  it('a driver the user named is the only one tried', () => {
    const { candidates } = driverCandidates({ VK_ICD_FILENAMES: '/opt/my_icd.json' }, fakeFs([swiftshader]));
    expect(candidates).toEqual([{ label: 'VK_ICD_FILENAMES=/opt/my_icd.json' }]);
  });

  it("tries the system's drivers first, then the known ones that exist", () => {
    const lavapipe = `${SYSTEM_DRIVER_FOLDERS[3]}/lvp_icd.x86_64.json`;
    const { candidates, skipped } = driverCandidates({}, fakeFs([lavapipe, swiftshader]));
    expect(candidates.map((c) => c.driver)).toEqual([undefined, swiftshader]);
    expect(candidates[0]!.label).toContain(lavapipe);
    expect(skipped.join(' ')).toMatch(/nvidia_icd\.json \(not there\)/);
  });

  it('without system drivers it goes straight to the known ones (no loader warning about an empty search)', () => {
    const { candidates } = driverCandidates({}, fakeFs([swiftshader]));
    expect(candidates).toEqual([{ driver: swiftshader, label: swiftshader }]);
  });

  it('points both loader variables at the chosen driver', () => {
    const env: Record<string, string | undefined> = {};
    useDriver({ driver: swiftshader, label: swiftshader }, env);
    expect(env).toEqual({ VK_ICD_FILENAMES: swiftshader, VK_DRIVER_FILES: swiftshader });
  });

  it('with nothing to try, the advice says what was looked for and how to install a driver', () => {
    const { candidates, skipped } = driverCandidates({}, fakeFs([]));
    expect(candidates).toEqual([]);
    const advice = noDriverAdvice([], skipped);
    expect(advice).toMatch(/found no Vulkan driver to try/);
    expect(advice).toContain(swiftshader);
    expect(advice).toMatch(/apt-get install libvulkan1 chromium/);
  });
});

/**
 * A user's program, as README shows it: getBackend('webgpu') in a process with no Vulkan variables
 * set. The library must find SwiftShader itself. Required in CI (LOOM_REQUIRE_BACKENDS); locally it
 * only runs where Debian's chromium is installed.
 */
const hasSwiftShader = spawnSync('test', ['-f', swiftshader]).status === 0;
describe.skipIf(!hasSwiftShader && !backendRequired('webgpu'))('in a process without VK_ICD_FILENAMES', () => {
  it('getBackend("webgpu") finds the SwiftShader driver and runs a graph', () => {
    const backends = fileURLToPath(new URL('../src/index.ts', import.meta.url));
    const graph = fileURLToPath(new URL('../../graph/src/index.ts', import.meta.url));
    const script = [
      `const { getBackend } = await import(${JSON.stringify(backends)});`,
      `const { GraphBuilder } = await import(${JSON.stringify(graph)});`,
      "const b = new GraphBuilder(); const x = b.add('input', [], { name: 'x', dtype: 'f32', shape: [3] });",
      "const g = b.build({ y: b.add('neg', [x]) });",
      "const model = await (await getBackend('webgpu')).prepare(g, new Map());",
      "const { y } = await model.run({ x: { dtype: 'f32', shape: [3], data: new Float32Array([1, 2, 3]) } });",
      "console.log('y', Array.from(y.data).join(','), process.env.VK_ICD_FILENAMES); process.exit(0);",
    ].join('\n');
    const env = { ...process.env };
    for (const v of ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'XDG_RUNTIME_DIR']) delete env[v];
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env, encoding: 'utf8', timeout: 120_000 });
    expect(`${r.stdout}${r.stderr}`).toContain(`y -1,-2,-3 ${swiftshader}`);
  });
});

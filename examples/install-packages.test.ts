/**
 * The packages outside the workspace, as a user gets them: built (tsc) and packed (pnpm pack), the
 * tarballs installed with npm into a fresh project in a temporary folder (no workspace links), the
 * README's library example (examples/quickstart.ts) typechecked by that project's own tsc and run
 * by node, the installed `loom` bin run, and a property test written against @loom/graph/testing.
 * Needs the npm registry (for the packages' own dependencies and typescript).
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { packPackages } from '../scripts/pack-packages.ts';

/** A command's stdout; on failure an error carrying its output (tsc prints its diagnostics on stdout). */
function run(cwd: string, command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.slice(0, 3).join(' ')} failed in ${cwd}:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

/** `loom inspect --no-open` from the installed bin: its URL line and stderr once it serves, and a way to stop it. */
async function startInspect(dir: string, args: string[]): Promise<{ url: string; stderr: () => string; stop: () => Promise<number | null> }> {
  const child = spawn(join(dir, 'node_modules/.bin/loom'), ['inspect', ...args, '--no-open'], { cwd: dir });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`loom inspect exited with ${code}: ${stdout}${stderr}`)));
  });
  const stop = () => new Promise<number | null>((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', (code) => resolve(code));
    child.kill('SIGINT');
  });
  return { url, stderr: () => stderr, stop };
}

it('the packed packages install with npm into a fresh project and run the README example there, typechecked by its own tsc', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'loom-user-'));
  const tarballs = packPackages(join(dir, 'tarballs'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'loom-user', private: true, type: 'module' }));
  // no install scripts: the cpu backend needs no native code (webgpu, gl, gpu.js are optional peers)
  run(dir, 'npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error', ...tarballs, 'typescript@5.9.3', '@types/node@20', 'fast-check@4']);
  const installed = JSON.parse(readFileSync(join(dir, 'node_modules/@loom/graph/package.json'), 'utf8')) as { exports: Record<string, unknown> };
  expect(Object.keys(installed.exports)).toEqual(['.', './node', './testing']);

  copyFileSync(new URL('./quickstart.ts', import.meta.url), join(dir, 'main.ts'));
  writeFileSync(
    join(dir, 'property.ts'),
    [
      "import fc from 'fast-check';",
      "import { interpret } from '@loom/graph';",
      "import { arbitraryGraphCase } from '@loom/graph/testing';",
      '// a user property: the interpreter computes every random graph without throwing',
      'fc.assert(fc.property(arbitraryGraphCase(), (c) => { interpret(c.graph, c.feeds, c.weights); }), { numRuns: 10 });',
      "console.log('property: ok');",
    ].join('\n'),
  );
  const compilerOptions = { strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', outDir: 'out', types: ['node'], skipLibCheck: false };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['main.ts', 'property.ts'] }));
  run(dir, join(dir, 'node_modules/.bin/tsc'), ['-p', '.']); // throws with tsc's messages on a type error

  const quickstart = run(dir, 'node', ['out/main.js']);
  expect(quickstart).toContain('fused_attention');
  expect(quickstart).toContain('y: [2, 7, 64]; verify: ok');
  expect(run(dir, 'node', ['out/property.js'])).toContain('property: ok');
  expect(run(dir, join(dir, 'node_modules/.bin/loom'), ['reverse', 'hello world'])).toBe('dlrow olleh\n');

  // `loom inspect` bundles its page from the installed (compiled) package; without the optional
  // gpu.js peer the page leaves webgl out and says so
  const weights = join(dir, 'node_modules/@loom/models/weights');
  const inspect = await startInspect(dir, ['--weights', join(weights, 'reverse-transformer.safetensors'), '--config', join(weights, 'reverse.json')]);
  try {
    const page = await fetch(new URL('inspect.js', inspect.url));
    expect(page.status).toBe(200);
    const code = await page.text();
    expect(code.length).toBeGreaterThan(500_000);
    expect(code).toContain('fused_attention');
    const info = (await (await fetch(new URL('api/model', inspect.url))).json()) as { family: string; unavailable: Record<string, string> };
    expect(info.family).toBe('seq2seq');
    expect(Object.keys(info.unavailable)).toEqual(['webgl']);
    expect(inspect.stderr()).toMatch(/webgl: its optional peer is not installed \(npm install gpu\.js\)/);
  } finally {
    expect(await inspect.stop()).toBe(0);
  }
}, 300_000);

/**
 * The packages outside the workspace, as a user gets them, by README's "As a library" section run as
 * written: its shell blocks (build and pack, `npm init`, `npm install` of the tarballs, tsc strict,
 * plain node) in an empty folder with npm only, its example as main.ts. Then the installed `loom` bin,
 * `loom inspect` from the compiled package, and a property test written against @loom/graph/testing
 * after `npm install fast-check@4`, as README says. Needs the npm registry (for the packages' own
 * dependencies and typescript).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { codeBlocks, readmeSection } from './readme.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

/** A command's stdout; on failure an error carrying its output (tsc prints its diagnostics on stdout). */
function run(cwd: string, command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.slice(0, 3).join(' ')} failed in ${cwd}:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

/** A README shell block, run by bash in `cwd` with the checkout's path for /path/to/loom; its stdout. */
function runShellBlock(cwd: string, block: string): string {
  return run(cwd, 'bash', ['-euo', 'pipefail', '-c', block.replaceAll('/path/to/loom', root)]);
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

it("README's library steps, run as written in an empty folder, install the packages and run the example under tsc strict and plain node", async () => {
  const section = readmeSection('As a library');
  const [install, build] = codeBlocks(section, 'sh');
  const [example] = codeBlocks(section, 'ts');
  const home = mkdtempSync(join(tmpdir(), 'loom-user-'));
  runShellBlock(home, install!);
  const dir = join(home, 'my-project');
  expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))).toMatchObject({ type: 'module' });
  const installed = JSON.parse(readFileSync(join(dir, 'node_modules/@loom/graph/package.json'), 'utf8')) as { exports: Record<string, unknown> };
  expect(Object.keys(installed.exports)).toEqual(['.', './node', './testing']);

  writeFileSync(join(dir, 'main.ts'), example!);
  const out = runShellBlock(dir, build!); // tsc throws with its messages on a type error
  expect(out).toContain('fused_attention');
  expect(out).toContain('y: [2, 7, 64]; verify: ok');
  expect(run(dir, join(dir, 'node_modules/.bin/loom'), ['reverse', 'hello world'])).toBe('dlrow olleh\n');

  // @loom/graph/testing with fast-check, as README says to install it
  run(dir, 'npm', ['install', 'fast-check@4']);
  mkdirSync(join(dir, 'props'));
  writeFileSync(
    join(dir, 'props/property.ts'),
    [
      "import fc from 'fast-check';",
      "import { interpret } from '@loom/graph';",
      "import { arbitraryGraphCase } from '@loom/graph/testing';",
      '// a user property: the interpreter computes every random graph without throwing',
      'fc.assert(fc.property(arbitraryGraphCase(), (c) => { interpret(c.graph, c.feeds, c.weights); }), { numRuns: 10 });',
      "console.log('property: ok');",
    ].join('\n'),
  );
  run(dir, 'npx', ['tsc', '--strict', '--module', 'nodenext', '--target', 'es2022', '--outDir', 'props/out', 'props/property.ts']);
  expect(run(dir, 'node', ['props/out/property.js'])).toContain('property: ok');

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

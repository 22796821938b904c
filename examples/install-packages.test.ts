/**
 * The packages outside the workspace, as a user gets them: built (tsc) and packed (pnpm pack), the
 * tarballs installed with npm into a fresh project in a temporary folder (no workspace links), the
 * README's library example (examples/quickstart.ts) typechecked by that project's own tsc and run
 * by node, the installed `loom` bin run, and a property test written against @loom/graph/testing.
 * Needs the npm registry (for the packages' own dependencies and typescript).
 */
import { execFileSync } from 'node:child_process';
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

it('the packed packages install with npm into a fresh project and run the README example there, typechecked by its own tsc', () => {
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
}, 300_000);

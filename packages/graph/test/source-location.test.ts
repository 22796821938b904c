import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../src/index.ts';
import { thisLine } from './test-helpers.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;

/**
 * Where a node was made, as a user running TypeScript through tsx (`pnpm loom`, the examples) sees
 * it: V8's call sites mapped through Node's source maps (source-location.ts). The script's
 * interfaces and types vanish from the JavaScript tsx runs, so a line that was not mapped is off.
 */
describe('node sources', () => {
  it('under tsx, name the TypeScript line that made each node, a line made twice included, in a folder whose name has a space', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loom source '));
    try {
      const script = join(dir, 'model.ts');
      const lines = [
        `import { GraphBuilder } from '${join(ROOT, 'packages/graph/src/index.ts')}';`,
        'interface Sizes {',
        '  readonly rows: number;',
        '  readonly cols: number;',
        '}',
        'type Named<T> = {',
        '  readonly [key: string]: T;',
        '};',
        'const sizes: Sizes = { rows: 2, cols: 3 };',
        'const seen: Named<string> = {};',
        'const b = new GraphBuilder();',
        "const x = b.input('x', 'f32', [sizes.rows, sizes.cols]);",
        "const twice = [0, 1].map(() => b.add('tanh', [x]));",
        'process.stdout.write(JSON.stringify([b.node(x).source, ...twice.map((n) => b.node(n).source), Object.keys(seen).length]));',
      ];
      writeFileSync(script, lines.join('\n'));
      const out = execFileSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8' });
      expect(JSON.parse(out)).toEqual([`${script}:12`, `${script}:13`, `${script}:13`, 0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('under vitest (whose maps Node does not hold), name the test line', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [2]); const line = thisLine();
    const y = b.add('tanh', [x]); const next = thisLine();
    expect([b.node(x).source, b.node(y).source]).toEqual([`packages/graph/test/source-location.test.ts:${line}`, `packages/graph/test/source-location.test.ts:${next}`]);
  });

  it('leave a prepareStackTrace the program set in place', () => {
    const own = (_: Error, sites: unknown[]) => `own ${sites.length}`;
    const errorClass = Error as unknown as { prepareStackTrace?: unknown };
    const previous = errorClass.prepareStackTrace;
    errorClass.prepareStackTrace = own;
    try {
      new GraphBuilder().input('x', 'f32', [2]);
      expect(errorClass.prepareStackTrace).toBe(own);
      expect(new Error().stack).toMatch(/^own \d+$/);
    } finally {
      errorClass.prepareStackTrace = previous;
    }
  });
});

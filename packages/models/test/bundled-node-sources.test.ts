/**
 * A model bundled with Loom into one JavaScript file (esbuild, as an application ships it) and run
 * with source maps: each node's source is the model's own line, not a line of Loom's graph package,
 * though both are frames of the same generated file (@loom/graph's source-location.ts tests frames
 * on the source they map to).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../../', import.meta.url).pathname;

describe('node sources in a bundle', () => {
  it("name the model's TypeScript lines, run with --enable-source-maps", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loom-bundle-'));
    try {
      const model = join(dir, 'model.ts');
      writeFileSync(
        model,
        [
          `import { GraphBuilder } from '${join(ROOT, 'packages/graph/src/index.ts')}';`,
          'interface Sizes { readonly n: number }',
          'const sizes: Sizes = { n: 4 };',
          'const b = new GraphBuilder();',
          "const x = b.input('x', 'f32', [sizes.n]);",
          "const y = b.add('tanh', [x]);",
          'process.stdout.write(JSON.stringify([b.node(x).source, b.node(y).source]));',
        ].join('\n'),
      );
      const bundle = join(dir, 'bundle.mjs');
      await build({ entryPoints: [model], bundle: true, format: 'esm', platform: 'node', sourcemap: 'inline', outfile: bundle, logLevel: 'silent' });
      const out = execFileSync(process.execPath, ['--enable-source-maps', bundle], { cwd: dir, encoding: 'utf8' });
      expect(JSON.parse(out)).toEqual(['model.ts:5', 'model.ts:6']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

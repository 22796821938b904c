import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { browserMissing } from '../../packages/backends/test/browser-session.ts';

/**
 * README's browser benchmark command, run as README writes it from the repository's root: its WebGL
 * table (Loom's webgl and TensorFlow.js's on one page in Chromium) comes out whole, every size timed
 * for both. What the times are is BENCHMARKS.md's business, not this test's.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const missing = browserMissing('webgl');

describe.skipIf(Boolean(missing))('examples/bench-browser', { timeout: 240_000 }, () => {
  it('npx tsx examples/bench-browser/bench-browser.ts --webgl prints the WebGL table, both engines timed at 256, 512 and 1024', async () => {
    const readme = readFileSync(new URL('README.md', `file://${ROOT}`), 'utf8');
    expect(readme).toContain('`npx tsx examples/bench-browser/bench-browser.ts`');
    expect(readme).toContain('`--webgl`: Loom\'s webgl against TensorFlow.js\'s there');
    const { stdout } = await promisify(execFile)('npx', ['tsx', 'examples/bench-browser/bench-browser.ts', '--webgl'], { cwd: ROOT, encoding: 'utf8', timeout: 200_000 });
    const rows = stdout.split('\n').filter((line) => /^\| \d+ \|/.test(line));
    expect(rows.map((r) => r.split('|')[1]!.trim())).toEqual(['256', '512', '1024']);
    for (const row of rows) expect(row, row).toMatch(/^\| \d+ \| \d+\.\d \| \d+\.\d \| \d+\.\d\dx the time \|$/);
  });
});

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { readmeSection, codeBlocks } from './readme.ts';

const quickstart = new URL('./quickstart.ts', import.meta.url);

it("README's library example is examples/quickstart.ts, word for word", () => {
  const [example] = codeBlocks(readmeSection('As a library'), 'ts');
  expect(example).toBe(readFileSync(quickstart, 'utf8'));
});

it('the README example builds, compiles, runs and verifies (npx tsx examples/quickstart.ts)', () => {
  const out = execFileSync('npx', ['tsx', quickstart.pathname], { encoding: 'utf8', timeout: 120_000 });
  expect(out).toContain('fused_attention');
  expect(out).toContain('y: [2, 7, 64]; verify: ok');
});

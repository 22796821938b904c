import { expect, it } from 'vitest';
import { readmeExample, runExample } from './readme.ts';

const quickstart = new URL('./quickstart.ts', import.meta.url);

it("README's library example is examples/quickstart.ts, word for word", () => {
  const { block, file } = readmeExample('As a library', quickstart);
  expect(block).toBe(file);
});

it('the README example builds, compiles, runs and verifies (npx tsx examples/quickstart.ts)', () => {
  const out = runExample(quickstart);
  expect(out).toContain('fused_attention');
  expect(out).toContain('y: [2, 7, 64]; verify: ok');
});

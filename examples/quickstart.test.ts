import { expect, it } from 'vitest';
import { main } from './quickstart.ts';

it('the README example builds, compiles, runs and verifies', async () => {
  const { plan, shape, ok } = await main();
  expect(plan).toContain('fused_attention');
  expect(shape).toEqual([2, 7, 64]);
  expect(ok).toBe(true);
});

import { expect, it } from 'vitest';
import { requireBackend } from '../packages/backends/test/require-backend.ts';
import { main } from './my-variant.ts';

const gpus = (await Promise.all((['webgl', 'webgpu'] as const).map(async (name) => ((await requireBackend(name)).backend ? name : undefined)))).filter((n) => n !== undefined);

it("MODELS.md's variant page: a Llama-style block written with the builder runs and verifies on every backend here", async () => {
  const { kernels, ok, report } = await main(['cpu', ...gpus]);
  console.log(report);
  expect(kernels).toBeGreaterThan(0);
  expect(report.split('\n')).toHaveLength(1 + gpus.length);
  expect(ok).toBe(true);
}, 300_000);

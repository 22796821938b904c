import { cpuBackend } from '@loom/backends';
import { describe, expect, it } from 'vitest';
import { trainReverse } from '../src/training/train-reverse.ts';
import { reverseSpecFromJson } from '../src/transformer/reverse-spec.ts';
import { fixtureJson } from './helpers.ts';

/** A short run of the reverse model's training from random weights, as CI can afford (the full run: BENCHMARKS.md). */
describe('training the reverse model (short run)', () => {
  const spec = reverseSpecFromJson(fixtureJson('reverse.json'));
  const run = async (steps: number) => {
    const losses: number[] = [];
    await trainReverse({ spec, backend: cpuBackend, maxLen: 6, steps, batch: 16, seed: 7, evalEvery: 10_000, validation: 8, heldOut: 8, onStep: (s) => losses.push(s.loss) });
    return losses;
  };

  it('the loss falls by at least 1.0 within 80 steps, the same losses for the same seed', async () => {
    const losses = await run(80);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(losses.slice(0, 10));
    const last = mean(losses.slice(-10));
    console.log(`reverse training, 80 steps: mean loss ${first.toFixed(3)} over the first 10 steps, ${last.toFixed(3)} over the last 10`);
    expect(first - last).toBeGreaterThan(1.0);
    expect(await run(5)).toEqual(losses.slice(0, 5));
  }, 120_000);
});

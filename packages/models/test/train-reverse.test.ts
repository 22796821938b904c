import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBackend } from '@loom/backends';
import type { LrSchedule } from '@loom/compiler';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/training/checkpoint.ts';
import { REVERSE_TEST_SEED, REVERSE_TRAINING, trainReverse } from '../src/training/train-reverse.ts';
import { heldOutTexts } from '../src/training/reverse-task.ts';
import { loadReverseModel } from '../src/reverse/load-reverse.ts';
import { reverseSpecFromJson } from '../src/transformer/reverse-spec.ts';
import { fixtureJson } from './helpers.ts';

/** A short run of the reverse model's training from random weights, as CI can afford (the full run: BENCHMARKS.md). */
describe('training the reverse model (short run)', () => {
  const spec = reverseSpecFromJson(fixtureJson('reverse.json'));
  // the default's warm-up (400 steps) is longer than this whole run
  const schedule: LrSchedule = { kind: 'cosine', lr: 2e-3, warmup: 20, total: 80 };
  const run = async (steps: number) => {
    const losses: number[] = [];
    await trainReverse({ spec, backend: cpuBackend, maxLen: 6, steps, batch: 16, seed: 7, evalEvery: 10_000, validation: 8, heldOut: 8, schedule, onStep: (s) => losses.push(s.loss) });
    return losses;
  };
  const dir = mkdtempSync(join(tmpdir(), 'loom-train-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the loss falls by at least 1.0 within 80 steps, the same losses for the same seed', async () => {
    const losses = await run(80);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(losses.slice(0, 10));
    const last = mean(losses.slice(-10));
    console.log(`reverse training, 80 steps: mean loss ${first.toFixed(3)} over the first 10 steps, ${last.toFixed(3)} over the last 10`);
    expect(first - last).toBeGreaterThan(1.0);
    expect(await run(5)).toEqual(losses.slice(0, 5));
  }, 120_000);

  it('a run resumed from its checkpoint continues bit-identically to one never interrupted (weights, moments, step, losses)', async () => {
    const common = { spec, backend: cpuBackend, maxLen: 6, batch: 8, seed: 11, evalEvery: 10_000, validation: 4, heldOut: 4 } as const;
    const whole: number[] = [];
    const straight = await trainReverse({ ...common, steps: 8, checkpoint: join(dir, 'straight.safetensors'), onStep: (s) => whole.push(s.loss) });
    // stopped after 3 of the 8 steps (its schedule the 8 steps' one), then resumed: the schedule comes from the checkpoint
    const first: number[] = [];
    await trainReverse({ ...common, steps: 3, schedule: REVERSE_TRAINING.schedule(8), checkpoint: join(dir, 'stopped.safetensors'), onStep: (s) => first.push(s.loss) });
    const resumed = await trainReverse({ ...common, steps: 8, resume: join(dir, 'stopped.safetensors'), checkpoint: join(dir, 'stopped.safetensors'), onStep: (s) => first.push(s.loss) });
    expect(resumed.steps).toBe(8);
    expect(first).toEqual(whole);
    const [a, b] = [await loadCheckpoint(join(dir, 'straight.safetensors')), await loadCheckpoint(join(dir, 'stopped.safetensors'))];
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    expect([...a.tensors.keys()].some((name) => name.startsWith('opt.v.'))).toBe(true);
    for (const [name, t] of a.tensors) expect(Buffer.from(b.tensors.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
    expect(b.generator).toBe(a.generator);
    for (const [name, t] of straight.weights) expect(Array.from(resumed.weights.get(name)!.data), name).toEqual(Array.from(t.data));
  }, 120_000);

  it('recomputing each layer in the backward pass trains the same: the same losses to float32 rounding', async () => {
    const common = { spec, backend: cpuBackend, maxLen: 6, steps: 4, batch: 8, seed: 5, evalEvery: 10_000, validation: 4, heldOut: 4, schedule } as const;
    const kept: number[] = [];
    const recomputed: number[] = [];
    await trainReverse({ ...common, onStep: (s) => kept.push(s.loss) });
    await trainReverse({ ...common, recompute: true, onStep: (s) => recomputed.push(s.loss) });
    recomputed.forEach((loss, i) => expect(loss).toBeCloseTo(kept[i]!, 5));
  }, 60_000);

  it('the shipped weights (trained by loom train reverse --max-len 48) reverse at least 99% of the 300 held-out strings of 1 to 48 characters whole', async () => {
    const shipped = loadReverseModel(cpuBackend);
    expect(shipped.spec).toMatchObject({ trainedMaxChars: 48, config: { sourcePositions: 'from-end' } });
    const texts = heldOutTexts(shipped.spec.vocab.chars, 300, 48, REVERSE_TEST_SEED);
    const reversed = await shipped.reverse(texts, { whole: true });
    const right = texts.filter((t, i) => reversed[i] === [...t].reverse().join('')).length;
    console.log(`shipped reverse model: ${right} of 300 held-out strings of 1 to 48 characters reversed exactly`);
    expect(right / 300).toBeGreaterThanOrEqual(0.99);
    await shipped.runner.dispose();
  }, 120_000);
});

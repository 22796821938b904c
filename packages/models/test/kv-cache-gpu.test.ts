/**
 * KV caches on the GPU backends, shared by a decoder's prefill and step models through one
 * StateStore: whichever model was prepared first, a second prompt on the same decoder (its caches
 * zeroed and reused) decodes as a fresh decoder does.
 */
import type { Backend } from '@loom/backends';
import { maxAbsDiff } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { requireBackend } from '../../backends/test/require-backend.ts';
import { argmax } from '../src/decoding/sampling.ts';
import { KvCacheDecoder } from '../src/decoding/kv-cache-decoder.ts';
import { gpt2ConfigFromHf } from '../src/gpt2/config.ts';
import { gpt2CachedPlans } from '../src/runners/causal-lm-runner.ts';
import { gpt2Weights } from '../src/weights/gpt2-weights.ts';
import { fixtureJson, fixtureTensors } from './helpers.ts';

const cfg = gpt2ConfigFromHf(fixtureJson('gpt2-tiny.config.json'));
const weights = gpt2Weights(cfg, fixtureTensors('gpt2-tiny.safetensors'));
const prompt = fixtureJson<{ prompt_ids: number[] }>('gpt2-tiny.json').prompt_ids;

/** Greedy steps from `ids`: each step's logits (a fixed token list would hide a cache that went wrong: gpt2-tiny's greedy choice repeats one token). */
async function greedy(decoder: KvCacheDecoder, ids: readonly number[], steps: number): Promise<Float32Array[]> {
  const all: Float32Array[] = [];
  let [logits] = await decoder.prefill([ids]);
  for (let s = 0; s < steps; s++) {
    all.push(logits!);
    [logits] = await decoder.step([argmax(logits!)]);
  }
  return all;
}

for (const name of ['webgpu', 'webgl'] as const) {
  const { backend } = await requireBackend(name);
  describe.skipIf(!backend)(`KV caches on ${name}`, () => {
    it('a step model prepared before the prefill model: a second prompt on the decoder decodes as a fresh decoder does', async () => {
      const b = backend as Backend;
      const decoder = new KvCacheDecoder(gpt2CachedPlans(cfg), weights, b);
      // the step model first (its device acquires the shared states first), then the prefill's at the first prompt
      const internals = decoder as unknown as { decodeModel: Promise<unknown>; preparePlan(seq: 'seq' | 1): Promise<unknown> };
      internals.decodeModel = internals.preparePlan(1);
      await internals.decodeModel;
      const [first, second] = [prompt.slice(0, 6), prompt.slice(2, 9)];
      await greedy(decoder, first, 6);
      const again = await greedy(decoder, second, 6);
      const fresh = new KvCacheDecoder(gpt2CachedPlans(cfg), weights, b);
      const want = await greedy(fresh, second, 6);
      again.forEach((logits, s) => expect(maxAbsDiff(logits, want[s]!), `step ${s}`).toBeLessThan(1e-5));
      await decoder.dispose();
      await fresh.dispose();
    });
  });
}

import { cpuBackend, referenceBackend, type Backend } from '@loom/backends';
import { describe, expect, it } from 'vitest';
import { generate } from '../src/decoding/generate.ts';
import { gpt2ConfigFromHf } from '../src/gpt2/config.ts';
import { KvCacheDecoder } from '../src/decoding/kv-cache-decoder.ts';
import { gpt2CachedPlans, Gpt2Runner } from '../src/runners/causal-lm-runner.ts';
import { gpt2Weights } from '../src/weights/gpt2-weights.ts';
import { fixtureJson, fixtureTensors } from './helpers.ts';

const cfg = gpt2ConfigFromHf(fixtureJson('gpt2-tiny.config.json'));
const expected = fixtureJson<{ prompt_ids: number[]; greedy_20: number[] }>('gpt2-tiny.json');
const weights = gpt2Weights(cfg, fixtureTensors('gpt2-tiny.safetensors'));

describe.each<[string, Backend]>([
  ['cpu', cpuBackend],
  ['reference', referenceBackend],
])('GPT-2 generation with the KV cache (%s)', (_name, backend) => {
  const model = new Gpt2Runner(cfg, weights, backend);
  const prompt = expected.prompt_ids;
  const short = prompt.slice(0, 2);

  it('greedy: exactly the ids of full recomputation, and the PyTorch greedy_20', async () => {
    const [cached] = await generate(model, [prompt], { maxNewTokens: 20, kvCache: true });
    const [recomputed] = await generate(model, [prompt], { maxNewTokens: 20, kvCache: false });
    expect(cached).toEqual(recomputed);
    expect(cached).toEqual(expected.greedy_20);
  });

  it('sampling with a seed and a batch of different lengths: the same ids with and without the cache', async () => {
    const opts = { maxNewTokens: 12, temperature: 1.3, topK: 40, topP: 0.95, seed: 5, stopAt: null };
    const cached = await generate(model, [prompt, short, prompt.slice(1, 5)], { ...opts, kvCache: true });
    const recomputed = await generate(model, [prompt, short, prompt.slice(1, 5)], { ...opts, kvCache: false });
    expect(cached).toEqual(recomputed);
  });
});

describe('KvCacheDecoder', () => {
  it('next-token logits match the full graph at every step', async () => {
    const decoder = new KvCacheDecoder(gpt2CachedPlans(cfg), weights, cpuBackend);
    const runner = new Gpt2Runner(cfg, weights, cpuBackend);
    const rows = [expected.prompt_ids.slice(0, 3)];
    let logits = await decoder.prefill(rows);
    for (const token of [11, 262, 1110]) {
      const want = await runner.nextLogits(rows);
      let err = 0;
      for (let i = 0; i < want[0]!.length; i++) err = Math.max(err, Math.abs(want[0]![i]! - logits[0]![i]!));
      expect(err).toBeLessThan(1e-5);
      rows[0]!.push(token);
      logits = await decoder.step([token]);
    }
    await decoder.dispose();
  });

  it.each<[string, Backend]>([
    ['cpu', cpuBackend],
    ['reference', referenceBackend],
  ])('a second prompt on the same decoder (its cache arrays reused, zeroed) gives what a fresh decoder gives (%s)', async (_name, backend) => {
    const decode = async (decoder: KvCacheDecoder, prompt: number[]) => {
      const all = [await decoder.prefill([prompt])];
      for (const token of [11, 262]) all.push(await decoder.step([token]));
      return all.map((l) => Array.from(l[0]!));
    };
    const reused = new KvCacheDecoder(gpt2CachedPlans(cfg), weights, backend);
    await decode(reused, expected.prompt_ids.slice(0, 5)); // a longer first prompt leaves more of the cache written
    const second = await decode(reused, expected.prompt_ids.slice(2, 4));
    const fresh = new KvCacheDecoder(gpt2CachedPlans(cfg), weights, backend);
    expect(second).toEqual(await decode(fresh, expected.prompt_ids.slice(2, 4)));
    await reused.dispose();
    await fresh.dispose();
  });

  it('refuses to decode past the model positions', async () => {
    const small = { ...cfg, nPositions: 4 };
    const wpe = weights.get('wpe.weight')!;
    const fewPositions = new Map(weights).set('wpe.weight', { ...wpe, shape: [4, cfg.nEmbd], data: wpe.data.subarray(0, 4 * cfg.nEmbd) });
    const decoder = new KvCacheDecoder(gpt2CachedPlans(small), fewPositions, cpuBackend);
    await decoder.prefill([[1, 2, 3]]);
    await decoder.step([4]);
    await expect(decoder.step([5])).rejects.toThrow(/reached the model's 4 positions/);
  });
});

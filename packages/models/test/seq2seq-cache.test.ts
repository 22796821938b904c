/**
 * Encoder-decoder decoding with a KV cache (the reverse model): cross-attention keys and values
 * computed once per source, self-attention keys and values appended per step. On every backend it
 * must compute what recomputing the whole target prefix computes: logits at every step, greedy ids
 * (which are PyTorch's), and beam search (beams permute the caches).
 */
import { cpuBackend, referenceBackend, type Backend } from '@loom/backends';
import { maxAbsDiff } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { requireBackend } from '../../backends/test/require-backend.ts';
import { translate } from '../src/decoding/seq2seq.ts';
import { loadReverseModel } from '../src/reverse/load-reverse.ts';
import { FIXTURES, fixtureJson } from './helpers.ts';

const { backend: gpu } = await requireBackend('webgpu');
const { backend: gl } = await requireBackend('webgl');
const greedy = fixtureJson<{ greedy: Record<string, { out_text: string }> }>('reverse.json').greedy;

const backends: [string, Backend | undefined][] = [
  ['cpu', cpuBackend],
  ['reference', referenceBackend],
  ['webgpu', gpu],
  ['webgl', gl],
];

describe.each(backends)('the PyTorch-trained reverse model decodes with a KV cache (%s)', (name, backend) => {
  it.skipIf(!backend)('every step: the cached logits equal recomputation, for a batch of two sources of different lengths', async () => {
    const model = loadReverseModel(backend!, FIXTURES);
    const { vocab } = model.spec;
    const sources = [vocab.encode('hello world'), vocab.encode('abc')];
    const cached = model.runner.decoder(sources, true);
    const recomputed = model.runner.decoder(sources, false);
    const targets = [[vocab.bos], [vocab.bos]];
    let [a, b] = [await cached.prefill(targets), await recomputed.prefill(targets)];
    let worst = 0;
    for (const step of ['dl', 'ro', 'wc']) {
      a.forEach((row, r) => (worst = Math.max(worst, maxAbsDiff(row, b[r]!))));
      const tokens = [vocab.encode(step[0]!)[0]!, vocab.encode(step[1]!)[0]!];
      [a, b] = [await cached.step(tokens), await recomputed.step(tokens)];
    }
    console.log(`reverse ${name}: cached vs recomputed decoder logits, max abs diff ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(2e-5);
    await cached.dispose?.();
  }, 120_000);

  // on the GPU backends, recomputation compiles a plan per target length (slow on software
  // renderers): the step test above compares with it, this one with PyTorch's ids
  const onGpu = name === 'webgpu' || name === 'webgl';
  it.skipIf(!backend)('greedy ids with the cache are exactly those without it (cpu, reference), and PyTorch greedy ids', async () => {
    const model = loadReverseModel(backend!, FIXTURES);
    const { vocab } = model.spec;
    const texts = Object.keys(greedy);
    const sources = texts.map((t) => vocab.encode(t));
    const options = { start: vocab.bos, eos: vocab.eos, maxNewTokens: model.runner.cfg.maxLen - 1 };
    const cached = await translate(model.runner, sources, { ...options, kvCache: true });
    if (!onGpu) expect(await translate(model.runner, sources, { ...options, kvCache: false })).toEqual(cached);
    expect(cached.map((ids) => vocab.decode(ids))).toEqual(texts.map((t) => greedy[t]!.out_text));
    await model.runner.dispose();
  }, 180_000);

  it.skipIf(!backend)('beam search (3 beams) with the cache equals beam search recomputing', async () => {
    const model = loadReverseModel(backend!, FIXTURES);
    const { vocab } = model.spec;
    const sources = onGpu ? [vocab.encode('beams')] : [vocab.encode('beams'), vocab.encode('a b')];
    const options = { start: vocab.bos, eos: vocab.eos, maxNewTokens: 10, beams: 3 };
    const cached = await translate(model.runner, sources, { ...options, kvCache: true });
    expect(await translate(model.runner, sources, { ...options, kvCache: false })).toEqual(cached);
    expect(cached.map((ids) => vocab.decode(ids))).toEqual(['smaeb', 'b a'].slice(0, sources.length));
    await model.runner.dispose();
  }, 180_000);
});

describe('translate: the generation rules of Hugging Face checkpoints', () => {
  it('suppressed tokens are never generated, a forced end token closes the last step, and bad limits are refused', async () => {
    const model = loadReverseModel(cpuBackend, FIXTURES);
    const { vocab } = model.spec;
    const source = [vocab.encode('hello')];
    const base = { start: vocab.bos, eos: vocab.eos, maxNewTokens: 3 };
    const [plain] = await translate(model.runner, source, base);
    expect(vocab.decode(plain!)).toBe('oll');
    const [noL] = await translate(model.runner, source, { ...base, suppress: vocab.encode('l') });
    expect(noL!.slice(1)).not.toContain(vocab.encode('l')[0]);
    const [forced] = await translate(model.runner, source, { ...base, forcedEos: vocab.eos });
    expect(forced).toEqual([...plain!.slice(0, 3), vocab.eos]);
    const [beamForced] = await translate(model.runner, source, { ...base, beams: 2, forcedEos: vocab.eos });
    expect(beamForced!.at(-1)).toBe(vocab.eos);
    await expect(translate(model.runner, source, { ...base, maxNewTokens: 10_000 })).rejects.toThrow('longer than the model');
    await expect(translate(model.runner, source, { ...base, maxNewTokens: -1 })).rejects.toThrow('non-negative integer');
  });

  it('sampling (temperature, top-k, top-p) with a seed: a batch of different lengths gives the same ids with and without the cache', async () => {
    const model = loadReverseModel(cpuBackend, FIXTURES);
    const { vocab } = model.spec;
    const sources = [vocab.encode('sampling works'), vocab.encode('ab')];
    const options = { start: vocab.bos, eos: vocab.eos, maxNewTokens: 12, temperature: 6, topK: 20, topP: 0.99, seed: 3 };
    const cached = await translate(model.runner, sources, { ...options, kvCache: true });
    expect(await translate(model.runner, sources, { ...options, kvCache: false })).toEqual(cached);
    expect(await translate(model.runner, sources, options)).toEqual(cached);
    const seeds = await Promise.all([4, 5, 6, 7].map((seed) => translate(model.runner, sources, { ...options, seed })));
    expect(seeds.some((ids) => JSON.stringify(ids) !== JSON.stringify(cached))).toBe(true);
    await expect(translate(model.runner, sources, { ...options, beams: 2 })).rejects.toThrow('beam search is deterministic');
  });
});

import { cpuBackend, type Backend } from '@loom/backends';
import { describe, expect, it } from 'vitest';
import { generate } from '../src/decoding/generate.ts';
import { ModelInputError } from '../src/errors.ts';
import { gpt2ConfigFromHf } from '../src/gpt2/config.ts';
import { loadReverseModel } from '../src/node.ts';
import { Gpt2Runner } from '../src/runners/causal-lm-runner.ts';
import { gpt2Weights } from '../src/weights/gpt2-weights.ts';
import { fixtureJson, fixtureTensors } from './helpers.ts';

const cfg = gpt2ConfigFromHf(fixtureJson('gpt2-tiny.config.json'));
const weights = gpt2Weights(cfg, fixtureTensors('gpt2-tiny.safetensors'));
const prompt = fixtureJson<{ prompt_ids: number[] }>('gpt2-tiny.json').prompt_ids;

/** The cpu backend, counting the graphs it prepares; `failNext` makes the next prepare fail as a lost device would. */
function counting(): { backend: Backend; prepared: () => number; failNext: () => void } {
  let count = 0;
  let fail = false;
  const backend: Backend = {
    ...cpuBackend,
    prepare: (...args: Parameters<Backend['prepare']>) => {
      count++;
      if (fail) {
        fail = false;
        return Promise.reject(new Error('device lost'));
      }
      return cpuBackend.prepare(...args);
    },
  };
  return { backend, prepared: () => count, failNext: () => (fail = true) };
}

describe('KV-cache decoders kept between decodings (DecoderPool)', () => {
  const sampling = { maxNewTokens: 6, temperature: 1.2, topK: 30, seed: 3, stopAt: null, kvCache: true };

  it('a second decoding prepares nothing, and gives what a fresh model gives (caches of another batch size dropped)', async () => {
    const { backend, prepared } = counting();
    const model = new Gpt2Runner(cfg, weights, backend);
    const fresh = new Gpt2Runner(cfg, weights, cpuBackend);
    const batch = [prompt, prompt.slice(0, 3)];
    expect(await generate(model, batch, sampling)).toEqual(await generate(fresh, batch, sampling));
    const afterFirst = prepared();
    expect(afterFirst).toBe(2); // the prefill and the step graphs
    for (const rows of [[prompt.slice(2, 9)], [prompt.slice(1, 4), prompt, prompt.slice(0, 2)]]) {
      expect(await generate(model, rows, sampling)).toEqual(await generate(new Gpt2Runner(cfg, weights, cpuBackend), rows, sampling));
    }
    expect(prepared()).toBe(afterFirst);
    await model.dispose();
    await fresh.dispose();
  });

  it('two decodings at once each get a decoder of their own, with the same results as one after the other', async () => {
    const { backend, prepared } = counting();
    const model = new Gpt2Runner(cfg, weights, backend);
    const [a, b] = [[prompt], [prompt.slice(0, 4), prompt.slice(3, 8)]];
    const apart = [await generate(model, a, sampling), await generate(model, b, sampling)];
    const together = await Promise.all([generate(model, a, sampling), generate(model, b, sampling)]);
    expect(together).toEqual(apart);
    expect(prepared()).toBe(4); // one more decoder for the second decoding at once
    await model.dispose();
  });

  it('a decoder is refused after its dispose; one refused input leaves it kept, a failed plan frees it', async () => {
    const { backend, prepared, failNext } = counting();
    const model = new Gpt2Runner(cfg, weights, backend);
    const decoder = model.decoder();
    await decoder.prefill([prompt]);
    await decoder.dispose?.();
    await expect(decoder.step([1])).rejects.toThrow(ModelInputError);
    await expect(decoder.step([1])).rejects.toThrow('this decoder was disposed');
    // a token outside the vocabulary is refused before anything runs: the decoder is kept
    const refused = model.decoder();
    await refused.prefill([prompt]);
    await expect(refused.step([cfg.vocabSize + 5])).rejects.toThrow(ModelInputError);
    await refused.dispose?.();
    expect(prepared()).toBe(1); // the same kept decoder, its prefill plan (a step's plan is prepared at the first step)
    await generate(model, [prompt], sampling);
    expect(prepared()).toBe(2); // and its step plan, now
    // a plan that fails to prepare: that decoder is freed, the next decoding makes another
    const failing = model.decoder();
    await failing.prefill([prompt]);
    failNext();
    const freshModel = new Gpt2Runner(cfg, weights, backend);
    await expect(generate(freshModel, [prompt], sampling)).rejects.toThrow('device lost');
    await failing.dispose?.();
    const before = prepared();
    expect(await generate(freshModel, [prompt], sampling)).toEqual(await generate(model, [prompt], sampling));
    expect(prepared()).toBe(before + 2); // freshModel's failed decoder was not kept: both plans again; model's were kept
    await model.dispose();
    await freshModel.dispose();
  });

  it("a plan's preparation error reaches the decoding, not again the dispose; the other plan is freed", async () => {
    const { backend, failNext } = counting();
    const model = new Gpt2Runner(cfg, weights, backend);
    const decoder = model.decoder();
    await decoder.prefill([prompt]); // the prefill plan prepared
    failNext(); // and the step plan fails
    const failure = decoder.step([1]).then(() => undefined, (e: unknown) => e);
    expect(String(await failure)).toContain('device lost');
    await expect(decoder.dispose?.()).resolves.toBeUndefined();
    // usingDecoder's finally (generate) does not replace the decoding's error with another
    failNext();
    const other = new Gpt2Runner(cfg, weights, backend);
    await expect(generate(other, [prompt], sampling)).rejects.toThrow('device lost');
    await Promise.all([model.dispose(), other.dispose()]);
  });

  it('a decoder lent out when its model is disposed is freed when it comes back, not kept', async () => {
    const { backend, prepared } = counting();
    const model = new Gpt2Runner(cfg, weights, backend);
    const lent = model.decoder();
    await lent.prefill([prompt]);
    await model.dispose();
    await lent.step([1]); // still usable until its borrower is done
    await lent.dispose?.();
    // nothing was kept for the disposed model's decoders: a new decoding prepares both plans
    const before = prepared();
    await generate(model, [prompt], sampling);
    expect(prepared()).toBe(before + 2);
    await model.dispose();
  });

  it('an encoder-decoder: each decoding reads its own source through the kept decoder', async () => {
    const { backend, prepared } = counting();
    const model = loadReverseModel(backend);
    expect(await model.reverse(['hello world'])).toEqual(['dlrow olleh']);
    const afterFirst = prepared();
    expect(await model.reverse(['loom', 'the quick brown fox'])).toEqual(['mool', 'xof nworb kciuq eht']);
    expect(await model.reverse(['abc'])).toEqual(['cba']);
    // the encoder-side graphs are prepared once; the decoder's two plans were kept
    expect(prepared()).toBe(afterFirst);
    await model.runner.dispose();
  });
});

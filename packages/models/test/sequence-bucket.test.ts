/**
 * Sequence buckets: a backend that builds kernels per concrete size (webgl) asks for prompts and
 * sources padded to a bucket (Backend.sequenceBucket), so that lengths in one bucket share kernels.
 * The padding is masked: the tokens are those of the unpadded run (checked on the cpu with a bucket
 * forced, and on webgl against the cpu), and on webgl a second prompt length in the bucket builds no
 * shader.
 */
import { cpuBackend, type Backend } from '@loom/backends';
import { describe, expect, it, vi } from 'vitest';
import { requireBackend } from '../../backends/test/require-backend.ts';
import { powerOfTwoBucket } from '../../backends/src/webgl/webgl-backend.ts';
import type { GlRuntime } from '../../backends/src/webgl/runtime.ts';
import { generate } from '../src/decoding/generate.ts';
import { gpt2ConfigFromHf } from '../src/gpt2/config.ts';
import { loadReverseModel } from '../src/node.ts';
import { Gpt2Runner } from '../src/runners/causal-lm-runner.ts';
import { causalLmFromGraph } from '../src/runners/graph-causal-lm.ts';
import { buildCachedGpt2 } from '../src/gpt2/model.ts';
import { bucketedWidth, padBatch } from '../src/runtime/graph-runner.ts';
import { gpt2Weights } from '../src/weights/gpt2-weights.ts';
import { fixtureJson, fixtureTensors } from './helpers.ts';

const cfg = gpt2ConfigFromHf(fixtureJson('gpt2-tiny.config.json'));
const weights = gpt2Weights(cfg, fixtureTensors('gpt2-tiny.safetensors'));
const base = fixtureJson<{ prompt_ids: number[] }>('gpt2-tiny.json').prompt_ids;
const promptOf = (n: number) => Array.from({ length: n }, (_, i) => base[(i * 3) % base.length]!);

/** The cpu backend asking for webgl's buckets: the padded runs, on kernels that do not care. */
const bucketingCpu: Backend = { ...cpuBackend, sequenceBucket: powerOfTwoBucket };
const { backend: gl } = await requireBackend('webgl');

describe('sequence buckets', () => {
  it('powers of two, 16 at least; a batch is padded to its bucket, within the model\'s positions; a graph of the user\'s own is not', async () => {
    expect([1, 9, 16, 17, 100, 128, 129].map(powerOfTwoBucket)).toEqual([16, 16, 16, 32, 128, 128, 256]);
    const width = bucketedWidth(bucketingCpu, 40);
    expect([3, 16, 17, 33, 40].map(width)).toEqual([16, 16, 32, 40, 40]);
    expect([3, 20].map(bucketedWidth(cpuBackend, 40))).toEqual([3, 20]); // no bucket: the longest row
    const { ids, mask, lengths } = padBatch([[5, 6, 7], [8]], 0, width);
    expect(ids.shape).toEqual([2, 16]);
    expect(lengths).toEqual([3, 1]);
    expect(Array.from(mask.data).filter(Boolean).length).toBe(4);
    // the prefill widths a family's runner and a graph of the user's own feed the bucketing backend
    const widths: number[] = [];
    const recording: Backend = {
      ...bucketingCpu,
      prepare: async (...args: Parameters<Backend['prepare']>) => {
        const model = await cpuBackend.prepare(...args);
        return { state: model.state, dispose: () => model.dispose(), run: (feeds) => (widths.push(feeds['input_ids']?.shape[1] ?? -1), model.run(feeds)) };
      },
    };
    const family = new Gpt2Runner(cfg, weights, recording);
    const own = causalLmFromGraph(buildCachedGpt2(cfg), weights, { backend: recording });
    for (const model of [family, own]) {
      widths.length = 0;
      await generate(model, [promptOf(5)], { maxNewTokens: 2 });
      expect(widths[0], model === family ? 'the family' : 'a graph of its own').toBe(model === family ? 16 : 5);
      await model.dispose();
    }
  });

  it('padded prompts and sources decode to the same tokens (GPT-2 with the KV cache and without, a batch, the reverse model)', async () => {
    const sampling = { maxNewTokens: 8, temperature: 1.1, topK: 20, seed: 9, stopAt: null };
    const batch = [promptOf(5), promptOf(11), promptOf(2)];
    const [plainModel, bucketedModel] = [new Gpt2Runner(cfg, weights, cpuBackend), new Gpt2Runner(cfg, weights, bucketingCpu)];
    for (const kvCache of [true, false]) {
      const plain = await generate(plainModel, batch, { ...sampling, kvCache });
      expect(await generate(bucketedModel, batch, { ...sampling, kvCache }), `kvCache ${kvCache}`).toEqual(plain);
    }
    const texts = ['hello world', 'loom', 'the quick brown fox'];
    const [plainReverse, bucketedReverse] = [loadReverseModel(cpuBackend), loadReverseModel(bucketingCpu)];
    expect(await bucketedReverse.reverse(texts)).toEqual(await plainReverse.reverse(texts));
    // what decoding holds counts the cross caches at the bucketed source length
    expect(bucketedReverse.runner.decodingBytes(3).perRow).toBeGreaterThan(plainReverse.runner.decodingBytes(3).perRow);
    await Promise.all([plainModel.dispose(), bucketedModel.dispose(), plainReverse.runner.dispose(), bucketedReverse.runner.dispose()]);
  });

  it.skipIf(!gl)('webgl: a second prompt length in the bucket builds no shader, and decodes as the cpu does', async () => {
    const runtime = (await (gl as unknown as { runtime(): Promise<GlRuntime> }).runtime());
    const model = new Gpt2Runner(cfg, weights, gl!);
    const cpu = new Gpt2Runner(cfg, weights, cpuBackend);
    await generate(model, [promptOf(9)], { maxNewTokens: 4 });
    const compile = vi.spyOn(runtime, 'compile');
    try {
      for (const n of [12, 16, 10]) {
        expect(await generate(model, [promptOf(n)], { maxNewTokens: 6 }), `prompt of ${n}`).toEqual(await generate(cpu, [promptOf(n)], { maxNewTokens: 6 }));
      }
      expect(compile).not.toHaveBeenCalled();
    } finally {
      compile.mockRestore();
      await model.dispose();
      await cpu.dispose();
    }
  });
});

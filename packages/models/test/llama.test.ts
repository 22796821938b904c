import { cpuBackend, referenceBackend } from '@loom/backends';
import { maxAbsDiff } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { generate } from '../src/decoding/generate.ts';
import { llamaConfigFromHf } from '../src/llama/config.ts';
import { LlamaRunner } from '../src/runners/causal-lm-runner.ts';
import { llamaWeights } from '../src/weights/llama-weights.ts';
import { fixtureJson, fixtureTensors, tensor } from './helpers.ts';

/** llama-tiny-dev: BF16 weights, 4 query heads on 2 kv heads, tied head, rope_theta 500000 (PyTorch float64 goldens). */
const cfg = llamaConfigFromHf(fixtureJson('llama-tiny-dev.config.json'));
const weights = llamaWeights(cfg, fixtureTensors('llama-tiny-dev.safetensors'));
const expected = fixtureJson<{ ids: number[]; greedy_12: number[] }>('llama-tiny-dev.json');
const golden = fixtureTensors('llama-tiny-dev-golden.safetensors');

describe('llama-tiny-dev (the Llama family: RMSNorm, RoPE, GQA, SwiGLU)', () => {
  it('reads the config: GQA, head_dim, rope_theta, tied embeddings', () => {
    expect(cfg).toMatchObject({ modelType: 'llama', nLayer: 2, nHead: 4, nKvHead: 2, headDim: 12, hidden: 48, intermediate: 128, vocabSize: 256, maxPositions: 64, ropeTheta: 500000, tieEmbeddings: true, qkvBias: false, eosTokenId: 2 });
  });

  it('logits within 1e-4 of float64 PyTorch on cpu and reference', async () => {
    for (const backend of [cpuBackend, referenceBackend]) {
      const runner = new LlamaRunner(cfg, weights, backend);
      const logits = await runner.logits([expected.ids]);
      expect(logits.shape).toEqual([1, 7, 256]);
      const err = maxAbsDiff(logits.data, tensor(golden, 'logits_f64').data);
      console.log(`llama-tiny-dev ${backend.name}: logits max abs err vs f64 ${err.toExponential(2)}`);
      expect(err).toBeLessThan(backend.name === 'reference' ? 1e-9 : 1e-4);
    }
  });

  it('greedy decoding gives greedy_12 exactly, with the KV cache and recomputing', async () => {
    const runner = new LlamaRunner(cfg, weights, cpuBackend);
    for (const kvCache of [true, false]) {
      const [out] = await generate(runner, [expected.ids], { maxNewTokens: 12, kvCache, stopAt: null });
      expect(out!.slice(expected.ids.length)).toEqual(expected.greedy_12);
    }
  });

  it('a batch of different lengths: the cached decode equals recomputation, row by row equal to each alone', async () => {
    const runner = new LlamaRunner(cfg, weights, cpuBackend);
    const prompts = [expected.ids, expected.ids.slice(0, 3), [9, 8, 7, 6, 5]];
    const cached = await generate(runner, prompts, { maxNewTokens: 6, kvCache: true, stopAt: null });
    const recomputed = await generate(runner, prompts, { maxNewTokens: 6, kvCache: false, stopAt: null });
    expect(cached).toEqual(recomputed);
    const alone = await generate(runner, [prompts[1]!], { maxNewTokens: 6, kvCache: true, stopAt: null });
    expect(cached[1]).toEqual(alone[0]);
  });
});

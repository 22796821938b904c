/**
 * The fixture goldens (PyTorch float64) on one backend: whole models, not kernels. The same suite
 * runs on cpu, webgpu and webgl (models-*.test.ts); exclusions are in exclusions.ts.
 */
import { maxAbsDiff } from '@loom/graph';
import { describe, expect, it } from 'vitest';
// the model zoo lives in @loom/models, which depends on this package: import its sources directly
import { generate } from '../../../models/src/decoding/generate.ts';
import { gpt2ConfigFromHf } from '../../../models/src/gpt2/config.ts';
import { Gpt2Runner, LlamaRunner } from '../../../models/src/runners/causal-lm-runner.ts';
import { loadReverseModel } from '../../../models/src/reverse/load-reverse.ts';
import { gpt2Weights } from '../../../models/src/weights/gpt2-weights.ts';
import { llamaConfigFromHf } from '../../../models/src/llama/config.ts';
import { llamaWeights } from '../../../models/src/weights/llama-weights.ts';
import { FIXTURES, fixtureJson, fixtureTensors, maxAbsDiffRows, tensor } from '../../../models/test/helpers.ts';
import type { BackendName } from '../../src/index.ts';
import { runsOn } from './exclusions.ts';
import { suiteBackend } from './suite-backend.ts';

export async function modelSuite(name: BackendName): Promise<void> {
  if (!runsOn('models', name)) return;
  const backend = await suiteBackend(name);
  // SwiftShader and software GL compile slowly: long timeouts
  describe.skipIf(!backend)(`${name} runs the models of packages/models like PyTorch`, { timeout: 180_000 }, () => {
    it('reverse transformer: encoder memory and teacher-forced logits within 1e-4 of float64 PyTorch; greedy decoding = PyTorch', async () => {
      const golden = fixtureTensors('reverse-golden.safetensors');
      const model = loadReverseModel(backend!, FIXTURES); // the PyTorch-trained model (the shipped one is Loom-trained)
      const src = tensor(golden, 'src');
      const memory = await model.runner.encode(src);
      const memErr = maxAbsDiff(memory.data, tensor(golden, 'memory_f64').data);
      const logits = await model.runner.logits(memory, src, tensor(golden, 'tgt_in'));
      expect(logits.shape).toEqual([3, 26, 30]);
      const logitErr = maxAbsDiff(logits.data, tensor(golden, 'logits_f64').data);
      console.log(`reverse ${name}: memory max abs err ${memErr.toExponential(2)}, logits ${logitErr.toExponential(2)}`);
      expect(memErr).toBeLessThan(1e-4);
      expect(logitErr).toBeLessThan(1e-4);
      // greedy decoding of one padded batch reproduces PyTorch's ids, also outside the training lengths
      const greedy = fixtureJson<{ greedy: Record<string, { out_text: string }> }>('reverse.json').greedy;
      const texts = Object.keys(greedy);
      // (reverseIds: the model itself; reverse() would cut texts past 16 characters into pieces)
      const decoded = (await model.reverseIds(texts)).map((ids) => model.spec.vocab.decode(ids));
      expect(decoded).toEqual(texts.map((t) => greedy[t]!.out_text));
    });

    it('llama-tiny-dev (RMSNorm, RoPE, GQA, SwiGLU, BF16 weights): logits within 1e-4 of float64 PyTorch; greedy_12 with the KV cache exact; beams with the cache = without', async () => {
      const cfg = llamaConfigFromHf(fixtureJson('llama-tiny-dev.config.json'));
      const runner = new LlamaRunner(cfg, llamaWeights(cfg, fixtureTensors('llama-tiny-dev.safetensors')), backend!);
      const expected = fixtureJson<{ ids: number[]; greedy_12: number[] }>('llama-tiny-dev.json');
      const logits = await runner.logits([expected.ids]);
      const err = maxAbsDiff(logits.data, tensor(fixtureTensors('llama-tiny-dev-golden.safetensors'), 'logits_f64').data);
      console.log(`llama-tiny-dev ${name}: logits max abs err vs f64 ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-4);
      const [out] = await generate(runner, [expected.ids], { maxNewTokens: 12, kvCache: true, stopAt: null });
      expect(out!.slice(expected.ids.length)).toEqual(expected.greedy_12);
      // beam search permutes the caches (on a GPU: downloaded, reordered, uploaded): the same as recomputing
      const beams = { maxNewTokens: 5, beams: 3, stopAt: null };
      expect(await generate(runner, [expected.ids], { ...beams, kvCache: true })).toEqual(await generate(runner, [expected.ids], { ...beams, kvCache: false }));
    });

    describe('gpt2-tiny', () => {
      const cfg = gpt2ConfigFromHf(fixtureJson('gpt2-tiny.config.json'));
      const expected = fixtureJson<{ prompt_ids: number[]; greedy_20: number[] }>('gpt2-tiny.json');
      const weights = gpt2Weights(cfg, fixtureTensors('gpt2-tiny.safetensors'));
      const golden = fixtureTensors('gpt2-tiny-golden.safetensors');

      it('logits within 2e-5 of float64 PyTorch; a padded batch within 2e-5 at real positions', async () => {
        const runner = new Gpt2Runner(cfg, weights, backend!);
        const logits = await runner.logits([expected.prompt_ids]);
        expect(logits.shape).toEqual([1, 6, cfg.vocabSize]);
        const err = maxAbsDiff(logits.data, tensor(golden, 'logits_f64').data);
        const ids = tensor(golden, 'batch_input_ids');
        const mask = tensor(golden, 'batch_attention_mask');
        const rows = [0, 1].map((b) => Array.from(ids.data.subarray(b * 6, b * 6 + 6)).filter((_, t) => mask.data[b * 6 + t] === 1));
        const batch = await runner.logits(rows);
        const batchErr = maxAbsDiffRows(batch, tensor(golden, 'batch_logits_f32'), (row) => mask.data[row] === 1);
        console.log(`gpt2-tiny ${name}: logits max abs err vs f64 ${err.toExponential(2)}, padded batch vs f32 ${batchErr.toExponential(2)}`);
        expect(err).toBeLessThan(2e-5);
        expect(batchErr).toBeLessThan(2e-5);
      });

      it('greedy decoding with the KV cache gives the PyTorch greedy_20 and equals full recomputation', async () => {
        const runner = new Gpt2Runner(cfg, weights, backend!);
        const [cached] = await generate(runner, [expected.prompt_ids], { maxNewTokens: 20, kvCache: true });
        expect(cached).toEqual(expected.greedy_20);
        const prompts = [expected.prompt_ids, expected.prompt_ids.slice(0, 2)];
        const withCache = await generate(runner, prompts, { maxNewTokens: 5, kvCache: true, stopAt: null });
        const recomputed = await generate(runner, prompts, { maxNewTokens: 5, kvCache: false, stopAt: null });
        expect(withCache).toEqual(recomputed);
      });
    });
  });
}

/**
 * The q8 and q4 weight stores on real models, with their errors stated: logits against float64
 * PyTorch (the quantization's error), against the reference interpreter on the same quantized weights
 * (the kernels' error, float32 rounding only), greedy agreement with the float model, and the trained
 * reversing model's exact-reversal accuracy on its 300 held-out strings.
 */
import { cpuBackend, getBackend, referenceBackend, type Backend } from '@loom/backends';
import { maxAbsDiff, Q4, Q8, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { generate } from '../src/decoding/generate.ts';
import { gpt2ConfigFromHf } from '../src/gpt2/config.ts';
import { llamaConfigFromHf } from '../src/llama/config.ts';
import { loadReverseModel } from '../src/reverse/load-reverse.ts';
import { Gpt2Runner, LlamaRunner } from '../src/runners/causal-lm-runner.ts';
import { heldOutTexts } from '../src/training/reverse-task.ts';
import { REVERSE_TEST_SEED } from '../src/training/train-reverse.ts';
import { gpt2Weights } from '../src/weights/gpt2-weights.ts';
import { llamaWeights } from '../src/weights/llama-weights.ts';
import { fixtureJson, fixtureTensors, tensor } from './helpers.ts';

const STORES = ['q8', 'q4', 'q8a8', 'q4a8'] as const;
type Store = (typeof STORES)[number];

/** q8a8, q4a8: the q8 / q4 store with int8 activations. */
const stored = (backend: Backend, store: Store): Promise<Backend> =>
  getBackend(backend.name, { weightStore: store.endsWith('a8') ? { ...(store.startsWith('q8') ? Q8 : Q4), activations: 'int8' } : (store as 'q8' | 'q4') });

/** Max |a - b| over max |b|: the error as a fraction of the logits' range. */
const relativeError = (a: NDArray, b: NDArray): number => {
  let range = 0;
  for (const x of b.data) range = Math.max(range, Math.abs(x));
  return maxAbsDiff(a.data, b.data) / range;
};

/** How many of the first tokens agree. */
const agreeing = (a: readonly number[], b: readonly number[]): number => {
  let n = 0;
  while (n < a.length && a[n] === b[n]) n++;
  return n;
};

/** Bounds measured on these fixtures (the numbers are printed), with room for another CPU's rounding. */
/** `greedy`: tokens of the float model's greedy continuation kept (left out where 4 bits on a random tiny model keep none). */
const BOUNDS: Record<string, Record<Store, { relative: number; greedy?: number }>> = {
  'gpt2-tiny': { q8: { relative: 0.02, greedy: 20 }, q4: { relative: 0.25, greedy: 2 }, q8a8: { relative: 0.03, greedy: 10 }, q4a8: { relative: 0.25, greedy: 2 } },
  'llama-tiny-dev': { q8: { relative: 0.03, greedy: 12 }, q4: { relative: 0.3, greedy: 2 }, q8a8: { relative: 0.05, greedy: 6 }, q4a8: { relative: 0.3 } },
};

describe('GPT-2 tiny and llama-tiny-dev with quantized weights', () => {
  const gpt2 = (() => {
    const cfg = gpt2ConfigFromHf(fixtureJson('gpt2-tiny.config.json'));
    const expected = fixtureJson<{ prompt_ids: number[]; greedy_20: number[] }>('gpt2-tiny.json');
    const golden = fixtureTensors('gpt2-tiny-golden.safetensors');
    return { name: 'gpt2-tiny', ids: expected.prompt_ids, greedy: expected.greedy_20.slice(expected.prompt_ids.length), logits: tensor(golden, 'logits_f64'), runner: (b: Backend) => new Gpt2Runner(cfg, gpt2Weights(cfg, fixtureTensors('gpt2-tiny.safetensors')), b) };
  })();
  const llama = (() => {
    const cfg = llamaConfigFromHf(fixtureJson('llama-tiny-dev.config.json'));
    const expected = fixtureJson<{ ids: number[]; greedy_12: number[] }>('llama-tiny-dev.json');
    const golden = fixtureTensors('llama-tiny-dev-golden.safetensors');
    return { name: 'llama-tiny-dev', ids: expected.ids, greedy: expected.greedy_12, logits: tensor(golden, 'logits_f64'), runner: (b: Backend) => new LlamaRunner(cfg, llamaWeights(cfg, fixtureTensors('llama-tiny-dev.safetensors')), b) };
  })();

  for (const model of [gpt2, llama]) {
    it.each(STORES)(`${model.name} %s: logits near float64 PyTorch, the kernels on the reference's quantized function, greedy tokens`, async (store) => {
      const cpu = model.runner(await stored(cpuBackend, store));
      const reference = model.runner(await stored(referenceBackend, store));
      const [got, exact] = [await cpu.logits([model.ids]), await reference.logits([model.ids])];
      const quantization = relativeError(got, model.logits);
      const kernels = relativeError(got, exact);
      const [out] = await generate(cpu, [model.ids], { maxNewTokens: model.greedy.length, stopAt: null });
      const same = agreeing(out!.slice(model.ids.length), model.greedy);
      console.log(`${model.name} ${store}: logits max error ${quantization.toExponential(2)} of their range vs float64 PyTorch, ${kernels.toExponential(2)} vs the reference on the same codes; greedy ${same} of ${model.greedy.length} tokens as float`);
      // int8 activations: a value float32 and float64 place on either side of a half rounds apart
      expect(kernels).toBeLessThan(store.endsWith('a8') ? 2e-2 : 1e-5);
      expect(quantization).toBeLessThan(BOUNDS[model.name]![store].relative);
      const greedy = BOUNDS[model.name]![store].greedy;
      if (greedy !== undefined) expect(same).toBeGreaterThanOrEqual(greedy);
      await cpu.dispose();
    }, 60_000);
  }
});

describe('the trained reversing model with quantized weights', () => {
  it.each([
    ['q8', 0.99],
    ['q4', 0.9],
    ['q8 with int8 activations', 0.98],
    ['q4 with int8 activations', 0.9],
  ] as const)('%s: reverses its 300 held-out strings (at least %s of them) and the README examples exactly', async (label, bound) => {
    const store = label.startsWith('q8') ? Q8 : Q4;
    const model = loadReverseModel(await getBackend('cpu', { weightStore: label.endsWith('activations') ? { ...store, activations: 'int8' } : store }));
    const texts = heldOutTexts(model.spec.vocab.chars, 300, 48, REVERSE_TEST_SEED);
    const reversed = await model.reverse(texts, { whole: true });
    const right = texts.filter((t, i) => reversed[i] === [...t].reverse().join('')).length;
    console.log(`reverse model ${label}: ${right} of 300 held-out strings reversed exactly`);
    expect(right / 300).toBeGreaterThanOrEqual(bound);
    expect(await model.reverse(['hello world', 'attention is all you need'])).toEqual(['dlrow olleh', 'deen uoy lla si noitnetta']);
    await model.runner.dispose();
  }, 180_000);
});

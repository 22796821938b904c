import { cpuBackend, referenceBackend } from '@loom/backends';
import { maxAbsDiff, ndarray, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { generate } from '../src/decoding/generate.ts';
import { gpt2ConfigFromHf, parseGpt2ConfigJson } from '../src/gpt2/config.ts';
import { buildGpt2 } from '../src/gpt2/model.ts';
import { Gpt2Runner } from '../src/runners/causal-lm-runner.ts';
import { gpt2Tokenizer } from '../src/tokenizers/gpt2-tokenizer.ts';
import { gpt2Weights } from '../src/weights/gpt2-weights.ts';
import { WeightsError } from '../src/weights/weights-error.ts';
import { fixtureJson, fixtureTensors, maxAbsDiffRows, tensor } from './helpers.ts';

const hf = fixtureJson('gpt2-tiny.config.json');
const expected = fixtureJson<{ prompt_ids: number[]; greedy_20: number[]; params: number }>('gpt2-tiny.json');
const cfg = gpt2ConfigFromHf(hf);
const checkpoint = fixtureTensors('gpt2-tiny.safetensors');
const weights = gpt2Weights(cfg, checkpoint);
const golden = fixtureTensors('gpt2-tiny-golden.safetensors');
const V = cfg.vocabSize;

async function run(graphOptions: Parameters<typeof buildGpt2>[1], feeds: Record<string, NDArray>, backend = cpuBackend): Promise<NDArray> {
  return (await (await backend.prepare(buildGpt2(cfg, graphOptions), weights)).run(feeds))['logits']!;
}

describe('GPT-2 tiny (Hugging Face GPT2LMHeadModel) agrees with PyTorch', () => {
  const ids = tensor(golden, 'input_ids');

  it('tokenizes the prompt like r50k_base', () => {
    expect(gpt2Tokenizer.encode('Data visualization empowers users to')).toEqual([6601, 32704, 795, 30132, 2985, 284]);
    expect(Array.from(ids.data)).toEqual(expected.prompt_ids);
    expect(gpt2Tokenizer.decode(expected.prompt_ids)).toBe('Data visualization empowers users to');
  });

  it('has the checkpoint\'s parameter count', async () => {
    const { countParams } = await import('../src/blocks.ts');
    expect(countParams(buildGpt2(cfg))).toBe(expected.params);
  });

  it('cpu logits within 5e-6 of float64 PyTorch, with and without the attention_mask input', async () => {
    const plain = await run({}, { input_ids: ids });
    const masked = await run({ attentionMask: true }, { input_ids: ids, attention_mask: ndarray('i32', [1, 6], [1, 1, 1, 1, 1, 1]) });
    expect(plain.shape).toEqual([1, 6, V]);
    const err = maxAbsDiff(plain.data, tensor(golden, 'logits_f64').data);
    console.log(`gpt2-tiny cpu: logits max abs err vs f64 ${err.toExponential(2)}`);
    expect(err).toBeLessThan(5e-6);
    expect(maxAbsDiff(masked.data, plain.data)).toBeLessThan(1e-6);
  });

  it('reference (float64) logits agree with float64 PyTorch and with cpu', async () => {
    const ref = await run({}, { input_ids: ids }, referenceBackend);
    const cpu = await run({}, { input_ids: ids });
    const err = maxAbsDiff(ref.data, tensor(golden, 'logits_f64').data);
    console.log(`gpt2-tiny reference: logits max abs err vs f64 ${err.toExponential(2)}, cpu vs reference ${maxAbsDiff(cpu.data, ref.data).toExponential(2)}`);
    expect(err).toBeLessThan(1e-9);
    expect(maxAbsDiff(cpu.data, ref.data)).toBeLessThan(5e-6);
  });

  it('batch with padding: batch_logits_f32 within 5e-6 at unmasked positions', async () => {
    const batchIds = tensor(golden, 'batch_input_ids');
    const mask = tensor(golden, 'batch_attention_mask');
    const logits = await run({ attentionMask: true }, { input_ids: batchIds, attention_mask: mask });
    const err = maxAbsDiffRows(logits, tensor(golden, 'batch_logits_f32'), (row) => mask.data[row] === 1);
    console.log(`gpt2-tiny cpu: batch logits max abs err at unmasked positions ${err.toExponential(2)}`);
    expect(Array.from(mask.data)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    expect(err).toBeLessThan(5e-6);
  });

  it('the last-position graph returns each row\'s last real position, before padding', async () => {
    const batchIds = tensor(golden, 'batch_input_ids');
    const mask = tensor(golden, 'batch_attention_mask');
    const full = await run({ attentionMask: true }, { input_ids: batchIds, attention_mask: mask });
    const last = await run({ attentionMask: true, lastOnly: true }, { input_ids: batchIds, attention_mask: mask });
    expect(last.shape).toEqual([2, 1, V]);
    // equal up to float32 rounding: the cpu backend's GEMM may sum in another order for one row than for six
    expect(maxAbsDiff(last.data.subarray(0, V), full.data.subarray(5 * V, 6 * V))).toBeLessThan(1e-6);
    expect(maxAbsDiff(last.data.subarray(V, 2 * V), full.data.subarray(9 * V, 10 * V))).toBeLessThan(1e-6);
    const noMask = await run({ lastOnly: true }, { input_ids: ids });
    expect(maxAbsDiff(noMask.data, tensor(golden, 'logits_f64').data.subarray(5 * V, 6 * V))).toBeLessThan(5e-6);
  });

  it('greedy generation of 20 tokens gives exactly greedy_20', async () => {
    const model = new Gpt2Runner(cfg, weights, cpuBackend);
    const [out] = await generate(model, [expected.prompt_ids], { maxNewTokens: 20 });
    expect(out).toEqual(expected.greedy_20);
  });

  it('batched prompts of different lengths generate what each prompt generates alone', async () => {
    const model = new Gpt2Runner(cfg, weights, cpuBackend);
    const short = expected.prompt_ids.slice(0, 3);
    const opts = { maxNewTokens: 6, temperature: 0.9, topK: 50, seed: 11 } as const;
    const [alone] = await generate(model, [short], { maxNewTokens: 6 });
    const batch = await generate(model, [expected.prompt_ids, short], { maxNewTokens: 6 });
    expect(batch[0]).toEqual(expected.greedy_20.slice(0, 12));
    expect(batch[1]).toEqual(alone);
    // sampling is reproducible with a seed and changes with it
    const a = await generate(model, [short], opts);
    const b = await generate(model, [short], opts);
    const c = await generate(model, [short], { ...opts, seed: 12 });
    expect(a).toEqual(b);
    expect(a[0]!.slice(0, 3)).toEqual(short);
    expect(a).not.toEqual(c);
  });

  it('rejects out-of-vocabulary ids and sequences longer than n_positions', async () => {
    const model = new Gpt2Runner(cfg, weights, cpuBackend);
    await expect(model.logits([[1, 50257]])).rejects.toThrow(/token id 50257 at position 2 of the prompt is outside the vocabulary \(0\.\.50256\)/);
    await expect(model.logits([new Array(129).fill(1)])).rejects.toThrow(/129 tokens, longer than the model's 128 positions/);
    await expect(generate(model, [[1, 2, 3]], { maxNewTokens: 126 })).rejects.toThrow(/longer than the model's 128 positions/);
  });
});

describe('Hugging Face GPT-2 config.json', () => {
  it('reads the fixture config', () => {
    expect(cfg).toEqual({ nLayer: 2, nHead: 4, nEmbd: 64, nInner: 256, nPositions: 128, vocabSize: 50257, eps: 1e-5, activation: 'gelu_tanh', eosTokenId: 50256 });
  });

  it('maps activations and n_inner', () => {
    expect(gpt2ConfigFromHf({ ...hf, activation_function: 'gelu' }).activation).toBe('gelu');
    expect(gpt2ConfigFromHf({ ...hf, activation_function: 'relu' }).activation).toBe('relu');
    expect(gpt2ConfigFromHf({ ...hf, n_inner: 100 }).nInner).toBe(100);
  });

  it('rejects unsupported or malformed values with the field named', () => {
    expect(() => gpt2ConfigFromHf({ ...hf, activation_function: 'swish' })).toThrow(/activation_function: unsupported value 'swish'; supported: gelu_new/);
    expect(() => gpt2ConfigFromHf({ ...hf, n_layer: undefined })).toThrow(/n_layer: is required/);
    expect(() => gpt2ConfigFromHf({ ...hf, n_head: 5 })).toThrow(/n_embd 64 does not divide into 5 heads/);
    expect(() => gpt2ConfigFromHf({ ...hf, n_embd: 'big' })).toThrow(/n_embd:/);
    expect(() => gpt2ConfigFromHf({ ...hf, tie_word_embeddings: false })).toThrow(/tie_word_embeddings/);
    expect(() => gpt2ConfigFromHf({ ...hf, model_type: 'llama' })).toThrow(/model_type/);
    expect(() => parseGpt2ConfigJson('{ nope')).toThrow(/config.json: not valid JSON/);
  });
});

describe('GPT-2 weight mapping', () => {
  it('accepts names without the transformer. prefix and skips lm_head and attention buffers', () => {
    const bare = new Map([...checkpoint].map(([k, v]) => [k.replace(/^transformer\./, ''), v]));
    bare.set('lm_head.weight', checkpoint.get('transformer.wte.weight')!);
    bare.set('h.0.attn.bias', ndarray('f32', [1, 1, 2, 2], [1, 0, 1, 1]));
    bare.set('h.1.attn.masked_bias', ndarray('f32', [], [-1e4]));
    const mapped = gpt2Weights(cfg, bare);
    expect([...mapped.keys()].sort()).toEqual([...weights.keys()].sort());
    expect(mapped.get('h.0.attn.c_attn.weight')!.shape).toEqual([64, 192]);
  });

  it('reports missing, unexpected and mis-shaped tensors together in one WeightsError', () => {
    const broken = new Map(checkpoint);
    broken.delete('transformer.h.1.ln_2.bias');
    broken.delete('transformer.wpe.weight');
    broken.set('transformer.h.0.attn.c_attn.weight', ndarray('f32', [192, 64], new Array(192 * 64).fill(0)));
    broken.set('transformer.h.7.mlp.c_fc.weight', ndarray('f32', [1], [0]));
    let error: unknown;
    try {
      gpt2Weights(cfg, broken, 'broken.safetensors');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WeightsError);
    const w = error as WeightsError;
    expect(w.missing).toEqual(['transformer.wpe.weight', 'transformer.h.1.ln_2.bias']);
    expect(w.unexpected).toEqual(['transformer.h.7.mlp.c_fc.weight']);
    expect(w.misshaped).toEqual([{ name: 'transformer.h.0.attn.c_attn.weight', expected: 'f32[64, 192]', actual: 'f32[192, 64]' }]);
    expect(w.message).toMatch(/^broken\.safetensors does not fit the model: 2 missing .*; 1 unexpected .*; 1 mis-shaped \(transformer\.h\.0\.attn\.c_attn\.weight: expected f32\[64, 192\], got f32\[192, 64\]\)$/);
  });
});

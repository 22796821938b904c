import { cpuBackend } from '@loom/backends';
import { mulberry32, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { generate } from '../src/decoding/generate.ts';
import { llamaConfigFromHf } from '../src/llama/config.ts';
import { LlamaRunner } from '../src/runners/causal-lm-runner.ts';
import { llamaWeights } from '../src/weights/llama-weights.ts';
import { fixtureJson, fixtureTensors } from './helpers.ts';

const cfg = llamaConfigFromHf(fixtureJson('llama-tiny-dev.config.json'));
const fixture = new LlamaRunner(cfg, llamaWeights(cfg, fixtureTensors('llama-tiny-dev.safetensors')), cpuBackend);
const expected = fixtureJson<{ ids: number[]; greedy_12: number[] }>('llama-tiny-dev.json');

/** A random Llama of 12 tokens, small enough to search every continuation. */
function tinyLlama(): LlamaRunner {
  const small = llamaConfigFromHf({ model_type: 'llama', vocab_size: 12, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 16, tie_word_embeddings: true });
  const r = mulberry32(3);
  const t = (shape: number[], scale: number): NDArray => ({ dtype: 'f32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() * 2 - 1) * scale) });
  const c = new Map<string, NDArray>([['model.embed_tokens.weight', t([12, 16], 2)], ['model.norm.weight', t([16], 1)]]);
  const p = 'model.layers.0';
  for (const n of ['input_layernorm', 'post_attention_layernorm']) c.set(`${p}.${n}.weight`, t([16], 1));
  for (const [n, shape] of [['q_proj', [16, 16]], ['k_proj', [8, 16]], ['v_proj', [8, 16]], ['o_proj', [16, 16]]] as const) c.set(`${p}.self_attn.${n}.weight`, t([...shape], 0.5));
  for (const [n, shape] of [['gate_proj', [24, 16]], ['up_proj', [24, 16]], ['down_proj', [16, 24]]] as const) c.set(`${p}.mlp.${n}.weight`, t([...shape], 0.5));
  return new LlamaRunner(small, llamaWeights(small, c), cpuBackend);
}

const logSoftmax = (l: Float32Array) => {
  const max = Math.max(...l);
  const log = max + Math.log(l.reduce((s, v) => s + Math.exp(v - max), 0));
  return Array.from(l, (v) => v - log);
};

describe('beam search', () => {
  it('with one beam is greedy decoding (greedy_12 of the fixture)', async () => {
    const [out] = await generate(fixture, [expected.ids], { maxNewTokens: 12, beams: 1, stopAt: null });
    expect(out!.slice(expected.ids.length)).toEqual(expected.greedy_12);
    const [viaBeams] = await generate(fixture, [expected.ids], { maxNewTokens: 12, beams: 2, stopAt: null, kvCache: false });
    expect(viaBeams).toHaveLength(expected.ids.length + 12);
  });

  it('with as many beams as tokens finds the most likely two-token continuation (checked against every one)', async () => {
    const model = tinyLlama();
    const prompt = [3, 5];
    const first = logSoftmax((await model.nextLogits([prompt]))[0]!);
    let best = { score: -Infinity, tokens: [] as number[] };
    const seconds = await model.nextLogits(first.map((_, a) => [...prompt, a]));
    first.forEach((la, a) => logSoftmax(seconds[a]!).forEach((lb, b) => {
      if (la + lb > best.score) best = { score: la + lb, tokens: [a, b] };
    }));
    const [out] = await generate(model, [prompt], { maxNewTokens: 2, beams: 12, stopAt: null, kvCache: false });
    expect(out!.slice(2)).toEqual(best.tokens);
    const [greedy] = await generate(model, [prompt], { maxNewTokens: 2, stopAt: null });
    console.log(`beam search ${out!.slice(2)} (logP ${best.score.toFixed(4)}), greedy ${greedy!.slice(2)}`);
  });

  it('with the KV cache (caches permuted with the beams) equals recomputation; the end token finishes a beam', async () => {
    for (const stopAt of [null, 94]) {
      const options = { maxNewTokens: 8, beams: 3, stopAt, lengthPenalty: 0.8 };
      const prompts = [expected.ids, [1, 200, 7]];
      const cached = await generate(fixture, prompts, { ...options, kvCache: true });
      const recomputed = await generate(fixture, prompts, { ...options, kvCache: false });
      expect(cached).toEqual(recomputed);
      // a hypothesis shorter than the limit ended with the end token
      cached.forEach((row, i) => {
        if (stopAt !== null && row.length < prompts[i]!.length + 8) expect(row.at(-1)).toBe(stopAt);
      });
    }
  });

  it('refuses sampling options and a bad beam count', async () => {
    await expect(generate(fixture, [expected.ids], { maxNewTokens: 2, beams: 2, temperature: 0.7 })).rejects.toThrow(/beam search is deterministic/);
    await expect(generate(fixture, [expected.ids], { maxNewTokens: 2, beams: 0 })).rejects.toThrow(/beams must be a positive integer, got 0/);
  });
});

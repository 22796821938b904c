/** The CLI on a Llama-family checkpoint: logits and generate (--ids), picked by config.json's model_type. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maxAbsDiff, readSafetensors } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { expectUserError, loom } from './cli-helpers.ts';
import { FIXTURES, fixtureJson, fixtureTensors, tensor } from './helpers.ts';

const llama = ['--weights', join(FIXTURES, 'llama-tiny-dev.safetensors'), '--config', join(FIXTURES, 'llama-tiny-dev.config.json')];
const expected = fixtureJson<{ ids: number[]; greedy_12: number[] }>('llama-tiny-dev.json');

describe('loom on a Llama-family checkpoint', () => {
  it('logits writes [1, T, vocab] within 1e-4 of float64 PyTorch', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'loom-llama-')), 'logits.safetensors');
    const r = await loom('logits', ...llama, '--ids', expected.ids.join(','), '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const logits = readSafetensors(new Uint8Array(readFileSync(out))).tensors.get('logits')!;
    expect(logits.shape).toEqual([1, 7, 256]);
    expect(maxAbsDiff(logits.data, tensor(fixtureTensors('llama-tiny-dev-golden.safetensors'), 'logits_f64').data)).toBeLessThan(1e-4);
  });

  it('generate --ids prints the greedy new ids on one line, comma-separated; with and without the KV cache', async () => {
    for (const cache of [[], ['--no-kv-cache']]) {
      const r = await loom('generate', ...llama, '--ids', expected.ids.join(','), '--max-new-tokens', '12', ...cache);
      expect(r).toEqual({ code: 0, stdout: `${expected.greedy_12.join(',')}\n`, stderr: '' });
    }
  });

  it('generate --beams runs beam search; --beams 1 is greedy; sampling options are refused with it', async () => {
    const one = await loom('generate', ...llama, '--ids', expected.ids.join(','), '--max-new-tokens', '12', '--beams', '1');
    expect(one).toEqual({ code: 0, stdout: `${expected.greedy_12.join(',')}\n`, stderr: '' });
    const three = await loom('generate', ...llama, '--ids', expected.ids.join(','), '--max-new-tokens', '6', '--beams', '3', '--length-penalty', '0.5');
    expect(three.code).toBe(0);
    expect(three.stdout).toMatch(/^\d+(,\d+){0,5}\n$/);
    expectUserError(await loom('generate', ...llama, '--ids', '1', '--beams', '2', '--temperature', '0.5'), /beam search is deterministic/);
  });

  it('--prompt goes through a Hugging Face tokenizer.json: --tokenizer, or the one beside the weights', async () => {
    // a word-level tokenizer over the fixture's 256 ids: token k is "t<k>"
    const vocab = Object.fromEntries(Array.from({ length: 256 }, (_, k) => [`t${k}`, k]));
    const tokenizer = { version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: { type: 'Whitespace' }, post_processor: null, decoder: { type: 'WordPiece', prefix: '##', cleanup: true }, model: { type: 'WordLevel', vocab, unk_token: 't0' } };
    const dir = mkdtempSync(join(tmpdir(), 'loom-tok-'));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
    const prompt = expected.ids.map((id) => `t${id}`).join(' ');
    const want = `${[...expected.ids, ...expected.greedy_12].map((id) => `t${id}`).join(' ')}\n`;
    expect(await loom('generate', ...llama, '--prompt', prompt, '--tokenizer', join(dir, 'tokenizer.json'), '--max-new-tokens', '12')).toEqual({ code: 0, stdout: want, stderr: '' });
    for (const file of ['llama-tiny-dev.safetensors', 'llama-tiny-dev.config.json']) writeFileSync(join(dir, file), readFileSync(join(FIXTURES, file)));
    const beside = ['--weights', join(dir, 'llama-tiny-dev.safetensors'), '--config', join(dir, 'llama-tiny-dev.config.json')];
    expect(await loom('generate', ...beside, '--prompt', prompt, '--max-new-tokens', '12')).toEqual({ code: 0, stdout: want, stderr: '' });
    writeFileSync(join(dir, 'bad.json'), '{"model": ');
    expectUserError(await loom('generate', ...llama, '--prompt', 'x', '--tokenizer', join(dir, 'bad.json')), /bad\.json: not valid JSON/);
    expectUserError(await loom('generate', ...llama, '--ids', '1', '--tokenizer', join(dir, 'tokenizer.json')), /--tokenizer applies to --prompt/);
  });

  it('refuses --prompt without a tokenizer, both --prompt and --ids, and an unsupported model_type (listing the supported ones)', async () => {
    expectUserError(await loom('generate', ...llama, '--prompt', 'hello'), /--prompt needs a tokenizer: no tokenizer\.json beside .*; pass --tokenizer FILE, or give token ids with --ids/);
    expectUserError(await loom('generate', ...llama, '--prompt', 'hello', '--ids', '1,2'), /give the input as --prompt TEXT or as --ids LIST \(one of the two\)/);
    const dir = mkdtempSync(join(tmpdir(), 'loom-bert-'));
    const bert = join(dir, 'config.json');
    writeFileSync(bert, JSON.stringify({ model_type: 'bert', hidden_size: 8 }));
    expectUserError(await loom('logits', '--weights', llama[1]!, '--config', bert, '--ids', '1', '--out', join(dir, 'x.safetensors')), /model_type "bert": not a causal LM Loom runs; supported model_type: gpt2, llama, mistral, qwen2, mixtral, gemma, gemma2, gpt_neox, phi3/);
    const config = fixtureJson<Record<string, unknown>>('llama-tiny-dev.config.json');
    for (const [patch, message] of [
      [{ rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling: .* is not supported \(only unscaled rotary positions\)/],
      [{ model_type: 'qwen2', use_sliding_window: true, sliding_window: 16 }, /use_sliding_window: Qwen2's sliding window \(layers past max_window_layers\) is not supported/],
      [{ hidden_act: 'gelu' }, /hidden_act: 'gelu' is not supported for llama \(supported: silu/],
      [{ num_key_value_heads: 3 }, /num_key_value_heads: 3 does not divide num_attention_heads 4/],
      [{ num_hidden_layers: 1000 }, /config num_hidden_layers is 1000, but .* holds 2 layers/],
      [{ vocab_size: 300 }, /config vocab_size 300 and hidden_size 48 do not match .*model.embed_tokens.weight \[256, 48\]/],
    ] as const) {
      writeFileSync(bert, JSON.stringify({ ...config, ...patch }));
      expectUserError(await loom('generate', '--weights', llama[1]!, '--config', bert, '--ids', '1'), message);
    }
  });
});

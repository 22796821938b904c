/**
 * A GGUF file as llama.cpp's Q4_K_M mix stores a Llama-family model (Q4_K weights; attn_v, ffn_down and
 * the head in Q6_K), with a SentencePiece tokenizer in its metadata (fixtures/gguf/llama-spm.q4_k_m.gguf,
 * written by make-llama-spm-fixture.py): the K-quant blocks kept as codes must compute what a float64
 * PyTorch forward of their dequantized weights computes, and the tokenizer must give SentencePiece's
 * own ids.
 */
import { readFileSync } from 'node:fs';
import { cpuBackend, referenceBackend, type Backend } from '@loom/backends';
import { maxAbsDiff, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { generate } from '../src/decoding/generate.ts';
import { llamaConfigFromGguf, llamaWeightsFromGguf } from '../src/gguf/llama-gguf.ts';
import { GgufError, readGgufHeader, type GgufFile } from '../src/gguf/read-gguf.ts';
import { tokenizerFromGguf } from '../src/gguf/gguf-tokenizer.ts';
import { loadGgufCausalLm } from '../src/io/load-causal-lm.ts';
import { ConfigError } from '../src/errors.ts';
import { requireBackend } from '../../backends/test/require-backend.ts';
import { loom } from './cli-helpers.ts';

const here = (name: string) => new URL(`./fixtures/gguf/${name}`, import.meta.url).pathname;
const FILE = here('llama-spm.q4_k_m.gguf');
const expected = JSON.parse(readFileSync(here('llama-spm.expected.json'), 'utf8')) as {
  texts: Record<string, number[]>;
  bos: number;
  eos: number;
  vocab_size: number;
  ids: number[];
  logits: number[];
  greedy: number[];
};
const range = (a: ArrayLike<number>) => Math.max(...Array.from(a)) - Math.min(...Array.from(a));

describe('K-quants (Q4_K, Q6_K) kept as codes: llama.cpp\'s Q4_K_M mix', () => {
  it('every Q4_K and Q6_K matrix a product reads is kept (Q4_K: 4 bits, groups of 32, zero points; Q6_K: 8-bit codes, groups of 16), none also as float32', async () => {
    const file = await readGgufHeader(FILE);
    const { weights, quantized } = llamaWeightsFromGguf(file, llamaConfigFromGguf(file));
    const kQuants = [...file.tensors.values()].filter((t) => t.type === 'Q4_K' || t.type === 'Q6_K').map((t) => t.name);
    // the untied embedding is gathered, not multiplied: it is the one K-quant dequantized to float32
    expect(kQuants.filter((n) => n !== 'token_embd.weight')).toHaveLength(quantized.size);
    expect(weights.get('embed_tokens.weight')?.dtype).toBe('f32');
    for (const name of quantized.keys()) expect(weights.has(name), name).toBe(false);
    expect(quantized.get('layers.0.self_attn.q_proj.weight')!.matrix).toMatchObject({ bits: 4, group: 32, k: 256, n: 256 });
    expect(quantized.get('layers.0.self_attn.q_proj.weight')!.matrix.zeroPoints).toBeInstanceOf(Float32Array);
    expect(quantized.get('layers.0.mlp.down_proj.weight')!.matrix).toMatchObject({ bits: 8, group: 16, k: 256, n: 256 });
    expect(quantized.get('lm_head.weight')!.matrix).toMatchObject({ bits: 8, group: 16, k: 256, n: expected.vocab_size });
  });

  it('cpu: logits within 1e-5 of the logit range of float64 PyTorch on the dequantized weights, greedy decoding the same; the float64 reference on the same codes too', async () => {
    const given: number[] = [];
    const recording: Backend = { name: 'cpu', prepare: (g, w, o) => (given.push(o?.quantizedWeights?.size ?? 0), cpuBackend.prepare(g, w, o)) };
    const want = Float64Array.from(expected.logits);
    for (const backend of [recording, referenceBackend]) {
      const runner = await loadGgufCausalLm(FILE, backend);
      const logits: NDArray = await runner.logits([expected.ids]);
      const err = maxAbsDiff(logits.data, want) / range(want);
      const out = (await generate(runner, [expected.ids], { maxNewTokens: expected.greedy.length, kvCache: true, stopAt: null }))[0]!.slice(expected.ids.length);
      console.log(`llama-spm Q4_K_M gguf on ${backend === recording ? 'cpu' : 'reference'}: max |logits error| / range ${err.toExponential(2)}, greedy ${out.join(',')} (PyTorch ${expected.greedy.join(',')})`);
      expect(err).toBeLessThan(1e-5);
      expect(out).toEqual(expected.greedy);
      await runner.dispose();
    }
    // the cpu was given the 8 kept matrices (7 projections and the head), not floats to quantize itself
    expect(given.length > 0 && given.every((n) => n === 8)).toBe(true);
  });

  it('loom generate --ids on the file alone gives PyTorch\'s greedy tokens, with --weight-store q8 too (the kept matrices stay as the file has them)', async () => {
    const r = await loom('generate', '--weights', FILE, '--ids', expected.ids.join(','), '--max-new-tokens', String(expected.greedy.length), '--weight-store', 'q8');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(expected.greedy.join(','));
  });
});

for (const name of ['webgpu', 'webgl'] as const) {
  const { backend } = await requireBackend(name);
  describe.skipIf(!backend)(`the Q4_K_M file's kept codes on ${name}`, { timeout: 120_000 }, () => {
    it('logits within 1e-5 of the logit range of float64 PyTorch on the dequantized weights (WGSL / GLSL unpacking the file\'s codes, zero points and groups of 16)', async () => {
      const runner = await loadGgufCausalLm(FILE, backend!);
      try {
        const logits: NDArray = await runner.logits([expected.ids]);
        const want = Float64Array.from(expected.logits);
        const err = maxAbsDiff(logits.data, want) / range(want);
        console.log(`llama-spm Q4_K_M gguf on ${name}: max |logits error| / range ${err.toExponential(2)}`);
        expect(err).toBeLessThan(1e-5);
      } finally {
        await runner.dispose();
      }
    });
  });
}

describe('the SentencePiece tokenizer of a GGUF file (tokenizer.ggml.model "llama", as the converter writes Llama 2\'s)', () => {
  it("encodes as SentencePiece itself does (BOS first, byte fallback for letters it lacks, runs of spaces, digits one by one), and decodes back", async () => {
    const tokenizer = await tokenizerFromGguf(await readGgufHeader(FILE));
    for (const [text, ids] of Object.entries(expected.texts)) {
      expect(tokenizer.encode(text), text).toEqual([expected.bos, ...ids]);
      expect(tokenizer.decode([expected.bos, ...ids, expected.eos]), text).toBe(text);
    }
    expect(() => tokenizer.decode([expected.vocab_size])).toThrow(/cannot decode token id 384/);
  });

  it('loom generate --prompt on the file alone: its metadata is the config and the tokenizer', async () => {
    const r = await loom('generate', '--weights', FILE, '--prompt', 'the quick brown fox', '--max-new-tokens', '4');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.startsWith('the quick brown fox')).toBe(true);
  });

  it('metadata SentencePiece cannot stand on is one error naming the key and the token', async () => {
    const file = await readGgufHeader(FILE);
    const edit = (changes: Record<string, unknown>): GgufFile => ({ ...file, metadata: { ...file.metadata, ...changes } });
    const tokens = file.metadata['tokenizer.ggml.tokens'] as string[];
    const types = file.metadata['tokenizer.ggml.token_type'] as number[];
    const scores = file.metadata['tokenizer.ggml.scores'] as number[];
    for (const [changes, message] of [
      [{ 'tokenizer.ggml.scores': scores.slice(1) }, /tokenizer\.ggml\.scores has 383 entries, one per token needs 384/],
      [{ 'tokenizer.ggml.token_type': types.map((t, i) => (i === 5 ? 9 : t)) }, /tokenizer\.ggml\.token_type\[5\] is "9": the list must hold token types \(1 to 6\)/],
      [{ 'tokenizer.ggml.tokens': tokens.map((t, i) => (i === 7 ? tokens[6] : t)) }, /tokenizer\.ggml\.tokens\[7\]: "<0x03>" is also token 6/],
      [{ 'tokenizer.ggml.tokens': tokens.map((t, i) => (i === 3 ? 'x' : t)) }, /tokenizer\.ggml\.tokens\[3\]: "x" is a byte token \(token_type 6\), which SentencePiece spells <0xHH>/],
      [{ 'tokenizer.ggml.unknown_token_id': 5 }, /SentencePiece needs an unknown token: unknown_token_id 5 is "<0x02>" of token_type 6/],
      [{ 'tokenizer.ggml.bos_token_id': 384 }, /tokenizer\.ggml\.bos_token_id is 384, not one of the 384 token ids/],
      [{ 'tokenizer.ggml.add_bos_token': 'yes' }, /tokenizer\.ggml\.add_bos_token must be a boolean, got yes/],
      [{ 'tokenizer.ggml.model': 'bert' }, /tokenizer\.ggml\.model is "bert"; Loom reads byte-level BPE \("gpt2"\) and SentencePiece \("llama"\) tokenizers/],
    ] as const) {
      const error = await tokenizerFromGguf(edit(changes)).then(() => undefined, (e: Error) => e);
      expect(error, JSON.stringify(Object.keys(changes))).toBeInstanceOf(GgufError);
      expect(error!.message).toMatch(message);
      expect(error!.message).toContain(FILE);
    }
    // a model SentencePiece itself refuses (no byte piece for some byte while byte fallback is on) is a ConfigError with its status
    const noByte = await tokenizerFromGguf(edit({ 'tokenizer.ggml.token_type': types.map((t, i) => (i === 3 ? 1 : t)) })).then(() => undefined, (e: Error) => e);
    expect(noByte).toBeInstanceOf(ConfigError);
    expect(noByte!.message).toMatch(/not a SentencePiece model that SentencePiece can load \(.+\)/);
  });
});

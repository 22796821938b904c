/**
 * Reading llama.cpp's GGUF files (src/gguf/), and Llama and GPT-2 models from them alone: a fixture written by llama.cpp's own `gguf` Python
 * package (fixtures/gguf/make-gguf-fixtures.py, which the tests keep), whose tensors of each type Loom
 * reads must equal what gguf.quants.dequantize gives, bit for bit; its metadata of every value type; and
 * hostile files (truncated, bad magic, a tensor past the end, misaligned, overlapping, an unknown type)
 * as GgufErrors naming the file, the tensor and the bytes.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBackend, referenceBackend, type Backend } from '@loom/backends';
import { dequantizeMatrix, maxAbsDiff, readSafetensors } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { generate } from '../src/decoding/generate.ts';
import { llamaConfigFromGguf, llamaWeightsFromGguf, unpermute } from '../src/gguf/llama-gguf.ts';
import { GgufError, readGgufHeader, readGgufTensor } from '../src/gguf/read-gguf.ts';
import { tokenizerFromGguf } from '../src/gguf/gguf-tokenizer.ts';
import { loadCausalLm, loadGgufCausalLm } from '../src/io/load-causal-lm.ts';
import { llamaConfigFromHf } from '../src/llama/config.ts';
import { LlamaRunner } from '../src/runners/causal-lm-runner.ts';
import { expectUserError, loom } from './cli-helpers.ts';
import { FIXTURES, fixtureJson, fixtureTensors, tensor } from './helpers.ts';

const FIXTURE = new URL('./fixtures/gguf/tensors.gguf', import.meta.url).pathname;
const expected = JSON.parse(readFileSync(new URL('./fixtures/gguf/tensors.expected.json', import.meta.url), 'utf8')) as Record<string, { shape: number[]; values: number[] }>;
const dir = mkdtempSync(join(tmpdir(), 'loom-gguf-'));

/** The fixture's bytes with `edit` applied, written to a new file. */
function edited(name: string, edit: (bytes: Uint8Array, view: DataView) => Uint8Array | void): string {
  const bytes = new Uint8Array(readFileSync(FIXTURE));
  const out = edit(bytes, new DataView(bytes.buffer)) ?? bytes;
  const path = join(dir, name);
  writeFileSync(path, out);
  return path;
}

async function caught(path: string): Promise<Error> {
  return readGgufHeader(path).then(
    () => {
      throw new Error('expected a GgufError');
    },
    (e: Error) => e,
  );
}

/** Byte offset of the first tensor info's (relative) data offset: found by the name, then its dims and type. */
function tensorInfoOffset(bytes: Uint8Array, name: string): number {
  const text = new TextEncoder().encode(name);
  for (let i = 0; i < bytes.length - text.length; i++) {
    if (text.every((b, j) => bytes[i + j] === b) && new DataView(bytes.buffer).getBigUint64(i - 8, true) === BigInt(text.length)) {
      const nDims = new DataView(bytes.buffer).getUint32(i + text.length, true);
      return i + text.length + 4 + 8 * nDims + 4; // after the name, n_dims, the dims and the type
    }
  }
  throw new Error(`no tensor info '${name}'`);
}

describe('GGUF files', () => {
  it('tensors of F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K equal gguf.quants.dequantize bit for bit, shaped as numpy shapes them', async () => {
    const file = await readGgufHeader(FIXTURE);
    expect([...file.tensors.keys()].sort()).toEqual(Object.keys(expected).sort());
    expect(file.tensors.get('t.q8_0')).toMatchObject({ type: 'Q8_0', shape: [3, 64], byteLength: 3 * 2 * 34 });
    for (const [name, want] of Object.entries(expected)) {
      const t = readGgufTensor(file, name);
      expect(t.shape, name).toEqual(want.shape);
      expect(Array.from(t.data), name).toEqual(want.values);
    }
  });

  it('metadata of each value type: strings, 32- and 64-bit integers, floats, booleans, arrays', async () => {
    const { metadata, alignment } = await readGgufHeader(FIXTURE);
    expect(metadata['general.architecture']).toBe('llama');
    expect(metadata['general.name']).toBe('loom fixture');
    expect(metadata['fixture.u32']).toBe(4000000000);
    expect(metadata['fixture.i32']).toBe(-7);
    expect(metadata['fixture.f32']).toBe(0.5);
    expect(metadata['fixture.bool']).toBe(true);
    expect(BigInt(metadata['fixture.u64'] as bigint)).toBe(2n ** 40n + 3n);
    expect(metadata['fixture.strings']).toEqual(['a', 'bc', 'ünï']);
    expect(metadata['fixture.ints']).toEqual([1, 2, 3]);
    expect(alignment).toBe(32);
  });

  it('hostile files are GgufErrors naming the file, the tensor and the bytes', async () => {
    const bad = await caught(edited('magic.gguf', (b) => void b.set([0x47, 0x47, 0x55, 0x47], 0)));
    expect(bad).toBeInstanceOf(GgufError);
    expect(bad.message).toMatch(/magic\.gguf: not a GGUF file Loom reads/);
    // cut inside the header: the data section would start past the end
    expect((await caught(edited('short.gguf', (b) => b.slice(0, 100)))).message).toMatch(/short\.gguf: the tensor data would start at byte \d+, past the file's 100 bytes/);
    const past = await caught(edited('past.gguf', (b) => b.slice(0, b.length - 40)));
    expect(past.message).toMatch(/tensor '.*': bytes \d+\.\.\d+ lie past the end of the file \(\d+ bytes\)/);
    const misaligned = await caught(edited('misaligned.gguf', (b, v) => void v.setBigUint64(tensorInfoOffset(b, 't.f16'), v.getBigUint64(tensorInfoOffset(b, 't.f16'), true) + 4n, true)));
    expect(misaligned.message).toMatch(/tensor 't\.f16': its data offset \d+ is not a multiple of the alignment 32/);
    const overlap = await caught(edited('overlap.gguf', (b, v) => void v.setBigUint64(tensorInfoOffset(b, 't.f16'), 0n, true)));
    expect(overlap.message).toMatch(/tensors 't\.\w+' .* and 't\.\w+' .* overlap/);
    const unknown = await caught(edited('type.gguf', (b, v) => void v.setUint32(tensorInfoOffset(b, 't.q4_0') - 4, 13, true)));
    expect(unknown.message).toMatch(/tensor 't\.q4_0': type Q5_K is not one Loom reads \(F32, F16, Q4_0, Q8_0, Q4_K, Q6_K, BF16\)/);
  });
});

describe('a Llama-family model from a GGUF file alone (llama-tiny-dev as convert_hf_to_gguf.py writes it)', () => {
  const golden = fixtureTensors('llama-tiny-dev-golden.safetensors');
  const { ids, greedy_12: greedy } = fixtureJson<{ ids: number[]; greedy_12: number[] }>('llama-tiny-dev.json');
  const gguf = (store: string) => new URL(`./fixtures/gguf/llama-tiny-dev.${store}.gguf`, import.meta.url).pathname;

  it('the metadata is the config: the same as config.json gives', async () => {
    const cfg = llamaConfigFromGguf(await readGgufHeader(gguf('f32')));
    const fromHf = llamaConfigFromHf(fixtureJson('llama-tiny-dev.config.json'));
    expect(cfg).toEqual({ ...fromHf, eps: Math.fround(fromHf.eps), ropeTheta: fromHf.ropeTheta });
  });

  it('F32: logits within 1e-4 of float64 PyTorch (q and k rows un-permuted), greedy_12 exact; Q8_0 and Q4_0: within their errors', async () => {
    for (const [store, bound, greedyBound] of [['f32', 1e-4, 12], ['q8_0', 2e-2, 12], ['q4_0', 0.5, 2]] as const) {
      const runner = await loadGgufCausalLm(gguf(store), cpuBackend);
      const logits = await runner.logits([ids]);
      const err = maxAbsDiff(logits.data, tensor(golden, 'logits_f64').data);
      const out = (await generate(runner, [ids], { maxNewTokens: 12, kvCache: true, stopAt: null }))[0]!.slice(ids.length);
      const same = out.findIndex((t, i) => t !== greedy[i]);
      console.log(`llama-tiny-dev ${store} gguf: max |logits error| ${err.toExponential(2)}, greedy ${same < 0 ? 12 : same} of 12 as PyTorch`);
      expect(err, store).toBeLessThan(bound);
      expect(same < 0 ? 12 : same, store).toBeGreaterThanOrEqual(greedyBound);
      await runner.dispose();
    }
  });

  it('Q8_0 and Q4_0 blocks are kept as they are: every projection and the tied head read the file\'s codes, and compute what their dequantized floats compute', async () => {
    for (const store of ['q8_0', 'q4_0'] as const) {
      const file = await readGgufHeader(gguf(store));
      const cfg = llamaConfigFromGguf(file);
      const { weights, quantized } = llamaWeightsFromGguf(file, cfg);
      // every Q8_0 / Q4_0 tensor of the file (the converter leaves rows that are not whole blocks, K = 48, in F32:
      // here the down projections, K = 128), none of them also as float32
      const blocks = [...file.tensors.values()].filter((t) => t.type === (store === 'q8_0' ? 'Q8_0' : 'Q4_0'));
      expect(blocks.map((t) => t.name).sort(), store).toEqual(['blk.0.ffn_down.weight', 'blk.1.ffn_down.weight']);
      expect(quantized.size, store).toBe(blocks.length);
      for (const name of quantized.keys()) expect(weights.has(name), name).toBe(false);
      expect(quantized.get('layers.0.mlp.down_proj.weight')).toMatchObject({ transposed: false, matrix: { bits: store === 'q8_0' ? 8 : 4, group: 32, k: 128, n: 48 } });
      // the same model with every kept matrix dequantized to float32 (as readGgufTensor would give it)
      const floats = new Map(weights);
      for (const [name, g] of quantized) floats.set(name, { dtype: 'f32', shape: g.transposed ? [g.matrix.n, g.matrix.k] : [g.matrix.k, g.matrix.n], data: Float32Array.from(dequantizeMatrix(g.matrix, g.transposed)) });
      const asFloats = new LlamaRunner(cfg, floats, cpuBackend);
      // the backend is asked to prepare with the kept matrices (their products then read the codes: the backends' suites)
      const given: number[] = [];
      const recording: Backend = { name: 'cpu', prepare: (g, w, o) => (given.push(o?.quantizedWeights?.size ?? 0), cpuBackend.prepare(g, w, o)) };
      const kept = await loadGgufCausalLm(gguf(store), recording);
      const reference = await loadGgufCausalLm(gguf(store), referenceBackend);
      const [got, want] = [await kept.logits([ids]), await reference.logits([ids])];
      const fromFloats = await asFloats.logits([ids]);
      console.log(`llama-tiny-dev ${store} gguf, codes kept: cpu against the float64 reference on the same codes ${maxAbsDiff(got.data, want.data).toExponential(2)}, against the dequantized floats ${maxAbsDiff(got.data, fromFloats.data).toExponential(2)}`);
      expect(maxAbsDiff(got.data, want.data)).toBeLessThan(1e-5);
      expect(maxAbsDiff(got.data, fromFloats.data)).toBeLessThan(1e-5);
      expect(given.length > 0 && given.every((n) => n === quantized.size)).toBe(true);
      await Promise.all([kept.dispose(), asFloats.dispose()]);
    }
  });

  it('the memory budget counts kept blocks as their bytes, not as float32', async () => {
    // llama-tiny-dev: 213 KB loaded from Q4_0 (its two down projections in blocks), 255 KB in float32
    const budget = { maxMemory: 230_000 };
    await expect(loadGgufCausalLm(gguf('f32'), cpuBackend, budget)).rejects.toThrow(/63,216 parameters, .* of float32 weights, above the memory budget/);
    const runner = await loadGgufCausalLm(gguf('q4_0'), cpuBackend, budget);
    expect(runner.family).toBe('llama');
  });

  it('un-permuting inverts the converter\'s permute', () => {
    // rows of 2 heads of 4 (two halves of 2): the converter's order h0: a0 b0 a1 b1 | h1: ...
    const permuted = { dtype: 'f32' as const, shape: [8, 1], data: Float32Array.from([0, 2, 1, 3, 4, 6, 5, 7]) };
    expect(Array.from(unpermute(permuted, 2).data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('loom generate | logits --weights model.gguf (no --config: the metadata is the config)', () => {
  const { ids, greedy_12: greedy } = fixtureJson<{ ids: number[]; greedy_12: number[] }>('llama-tiny-dev.json');
  const file = new URL('./fixtures/gguf/llama-tiny-dev.f32.gguf', import.meta.url).pathname;

  it('generate prints greedy_12; logits writes PyTorch\'s within 1e-4', async () => {
    const generated = await loom('generate', '--weights', file, '--ids', ids.join(','), '--max-new-tokens', '12');
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout.trim()).toBe(greedy.join(','));
    const out = join(dir, 'gguf-logits.safetensors');
    const logits = await loom('logits', '--weights', file, '--ids', ids.join(','), '--out', out);
    expect(logits.code, logits.stderr).toBe(0);
    const written = readSafetensors(new Uint8Array(readFileSync(out))).tensors.get('logits')!;
    expect(maxAbsDiff(written.data, tensor(fixtureTensors('llama-tiny-dev-golden.safetensors'), 'logits_f64').data)).toBeLessThan(1e-4);
  });

  it('a GGUF file with --config, or safetensors without one, is one error saying which', async () => {
    expectUserError(await loom('generate', '--weights', file, '--config', `${FIXTURES}llama-tiny-dev.config.json`, '--ids', '1'), /is a GGUF file: its metadata is the config; drop --config/);
    expectUserError(await loom('generate', '--weights', `${FIXTURES}llama-tiny-dev.safetensors`, '--ids', '1'), /give --config C, the checkpoint's Hugging Face config\.json \(a GGUF file needs none\)/);
  });
});

describe('GPT-2 from a GGUF file alone (convert_hf_to_gguf.py\'s GPT2Model layout)', () => {
  const here = (name: string) => new URL(`./fixtures/gguf/${name}`, import.meta.url).pathname;

  it('the same logits as the same weights from a Hugging Face checkpoint and config.json, to the bit', async () => {
    const fromGguf = await loadGgufCausalLm(here('gpt2-random.f32.gguf'), cpuBackend);
    const fromHf = await loadCausalLm(here('gpt2-random.safetensors'), here('gpt2-random.config.json'), cpuBackend);
    expect(fromGguf.family).toBe('gpt2');
    const ids = [3, 17, 42, 8, 8, 29, 1, 5];
    const [a, b] = [await fromGguf.logits([ids]), await fromHf.logits([ids])];
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(await generate(fromGguf, [ids], { maxNewTokens: 6, stopAt: null })).toEqual(await generate(fromHf, [ids], { maxNewTokens: 6, stopAt: null }));
    await fromGguf.dispose();
    await fromHf.dispose();
  });
  it('Q8_0 (the embedding and the tied head too): the codes kept, within Q8_0\'s error of the float model, and the reference on the same codes agrees', async () => {
    const kept = await loadGgufCausalLm(here('gpt2-random.q8_0.gguf'), cpuBackend);
    const reference = await loadGgufCausalLm(here('gpt2-random.q8_0.gguf'), referenceBackend);
    const float = await loadCausalLm(here('gpt2-random.safetensors'), here('gpt2-random.config.json'), cpuBackend);
    const ids = [3, 17, 42, 8, 8, 29, 1, 5];
    const [q, r, f] = [await kept.logits([ids]), await reference.logits([ids]), await float.logits([ids])];
    const range = Math.max(...Array.from(f.data, Math.abs));
    console.log(`gpt2-random q8_0 gguf: logits error ${(maxAbsDiff(q.data, f.data) / range).toExponential(2)} of their range against float32, ${maxAbsDiff(q.data, r.data).toExponential(2)} against the reference on the same codes`);
    expect(maxAbsDiff(q.data, r.data)).toBeLessThan(1e-5);
    expect(maxAbsDiff(q.data, f.data) / range).toBeLessThan(3e-2);
    expect(maxAbsDiff(q.data, f.data)).toBeGreaterThan(0); // the codes ran, not a float copy
    await Promise.all([kept.dispose(), float.dispose()]);
  });
});

describe('the tokenizer from a GGUF file\'s metadata (tokenizer.ggml.*: a byte-level BPE as the converter writes GPT-2\'s)', () => {
  const here = (name: string) => new URL(`./fixtures/gguf/${name}`, import.meta.url).pathname;
  const expected = JSON.parse(readFileSync(here('gpt2-bpe.expected.json'), 'utf8')) as { texts: Record<string, number[]>; llama_bpe: Record<string, number[]>; with_digit_merge: Record<'llama_bpe' | 'qwen2', Record<string, number[]>>; vocab_size: number; eos: number };

  it('encodes as a plain BPE over the same tokens and merges does (the generator\'s), and decodes back', async () => {
    const tokenizer = await tokenizerFromGguf(await readGgufHeader(here('gpt2-bpe.gguf')));
    for (const [text, ids] of Object.entries(expected.texts)) {
      expect(tokenizer.encode(text), text).toEqual(ids);
      expect(tokenizer.decode(ids)).toBe(text);
    }
    // the control token is special: skipped when decoding
    expect(tokenizer.decode([...expected.texts['the dog ran']!, expected.eos])).toBe('the dog ran');
  });

  it("Llama 3's pre-tokenizer (llama-bpe): digits in runs of 3, a letter run with the one non-letter before it", async () => {
    const file = await readGgufHeader(here('gpt2-bpe.gguf'));
    const tokenizer = await tokenizerFromGguf({ ...file, metadata: { ...file.metadata, 'tokenizer.ggml.pre': 'llama-bpe' } });
    for (const [text, ids] of Object.entries(expected.llama_bpe)) {
      expect(tokenizer.encode(text), text).toEqual(ids);
      expect(tokenizer.decode(ids)).toBe(text);
    }
  });

  it("Qwen2's pre-tokenizer (qwen2) cuts digits one at a time where Llama 3's keeps runs of 3 (with a merge of two digits added)", async () => {
    const file = await readGgufHeader(here('gpt2-bpe.gguf'));
    const withMerge = { ...file.metadata, 'tokenizer.ggml.tokens': [...(file.metadata['tokenizer.ggml.tokens'] as string[]), '12'], 'tokenizer.ggml.merges': [...(file.metadata['tokenizer.ggml.merges'] as string[]), '1 2'], 'tokenizer.ggml.token_type': [...(file.metadata['tokenizer.ggml.token_type'] as number[]), 1] };
    for (const pre of ['llama_bpe', 'qwen2'] as const) {
      const tokenizer = await tokenizerFromGguf({ ...file, metadata: { ...withMerge, 'tokenizer.ggml.pre': pre.replace('_', '-') } });
      for (const [text, ids] of Object.entries(expected.with_digit_merge[pre])) {
        expect(tokenizer.encode(text), `${pre}: ${text}`).toEqual(ids);
        expect(tokenizer.decode(ids)).toBe(text);
      }
    }
    expect(expected.with_digit_merge.qwen2).not.toEqual(expected.with_digit_merge.llama_bpe);
  });

  it('loom generate --prompt on a GGUF file alone: its metadata is the config and the tokenizer', async () => {
    const r = await loom('generate', '--weights', here('gpt2-bpe.gguf'), '--prompt', 'the cat sat', '--max-new-tokens', '4');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.startsWith('the cat sat')).toBe(true);
  });

  it('a model or pre-tokenizer Loom does not read is one error naming it', async () => {
    const file = await readGgufHeader(here('gpt2-bpe.gguf'));
    for (const [key, value, message] of [
      ['tokenizer.ggml.model', 'bert', /tokenizer\.ggml\.model is "bert"; Loom reads byte-level BPE \("gpt2"\) and SentencePiece \("llama"\) tokenizers/],
      ['tokenizer.ggml.pre', 'deepseek-llm', /tokenizer\.ggml\.pre is "deepseek-llm"; Loom reads the pre-tokenizers "gpt2", "default", "mpt", "olmo", "jais", "llama-bpe", "dbrx", "smaug-bpe", "qwen2", "stablelm2" so far/],
      ['tokenizer.ggml.merges', [1, 2], /tokenizer\.ggml\.merges must be a list of strings/],
    ] as const) {
      await expect(tokenizerFromGguf({ ...file, metadata: { ...file.metadata, [key]: value } })).rejects.toThrow(message);
    }
  });
});

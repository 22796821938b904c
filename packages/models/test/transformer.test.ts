import { cpuBackend, referenceBackend } from '@loom/backends';
import { maxAbsDiff, ndarray, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { greedyDecode } from '../src/decoding/seq2seq.ts';
import { Prng } from '../src/decoding/prng.ts';
import { loadReverseModel } from '../src/reverse/load-reverse.ts';
import type { TransformerConfig } from '../src/transformer/config.ts';
import { buildTransformer, buildTransformerDecoder, buildTransformerEncoder } from '../src/transformer/model.ts';
import { TransformerRunner } from '../src/runners/transformer-runner.ts';
import { expectedWeights } from '../src/weights/mapping.ts';
import { FIXTURES, fixtureJson, fixtureTensors, tensor } from './helpers.ts';

const golden = fixtureTensors('reverse-golden.safetensors');
const spec = fixtureJson<{ greedy: Record<string, { src_ids: number[]; out_ids: number[]; out_text: string }> }>('reverse.json');

describe('the PyTorch-trained reverse model (nn.Transformer, test fixtures) agrees with PyTorch', () => {
  const src = tensor(golden, 'src');
  const tgt = tensor(golden, 'tgt_in');

  for (const backend of [cpuBackend, referenceBackend]) {
    it(`${backend.name}: encoder memory and teacher-forced logits within 1e-4 of float64 PyTorch`, async () => {
      const model = loadReverseModel(backend, FIXTURES);
      const memory = await model.runner.encode(src);
      expect(memory.shape).toEqual([3, 25, 128]);
      const memErr = maxAbsDiff(memory.data, tensor(golden, 'memory_f64').data);
      const logits = await model.runner.logits(memory, src, tgt);
      expect(logits.shape).toEqual([3, 26, 30]);
      const logitErr = maxAbsDiff(logits.data, tensor(golden, 'logits_f64').data);
      console.log(`reverse ${backend.name}: memory max abs err ${memErr.toExponential(2)}, logits ${logitErr.toExponential(2)}`);
      expect(memErr).toBeLessThan(1e-4);
      expect(logitErr).toBeLessThan(1e-4);
    });
  }

  it('greedy decoding reproduces PyTorch ids for all five strings, decoded as one padded batch', async () => {
    const model = loadReverseModel(cpuBackend, FIXTURES);
    const texts = Object.keys(spec.greedy);
    const ids = await model.reverseIds(texts);
    texts.forEach((text, i) => {
      expect(model.spec.vocab.encode(text)).toEqual(spec.greedy[text]!.src_ids);
      expect(ids[i]).toEqual(spec.greedy[text]!.out_ids);
      expect(model.spec.vocab.decode(ids[i]!)).toBe(spec.greedy[text]!.out_text);
    });
  });

  it('each row stops at its own EOS: batched decoding equals decoding rows alone', async () => {
    const model = loadReverseModel(cpuBackend, FIXTURES);
    const alone = await model.reverse(['abc']);
    const batched = await model.reverse(['hello world', 'abc']);
    expect(batched[1]).toBe(alone[0]);
    expect(batched).toEqual(['dlrow olleh', 'cba']);
  });

  it('maxLen bounds the output, BOS included', async () => {
    const model = loadReverseModel(cpuBackend, FIXTURES);
    const [ids] = await greedyDecode(model.runner, [model.spec.vocab.encode('hello world')], { bos: 1, eos: 2, maxLen: 4 });
    expect(ids).toEqual([1, 6, 14, 20]);
  });

  it('rejects unknown characters (anywhere in a long text) and over-long id sequences with a clear ModelInputError', async () => {
    const model = loadReverseModel(cpuBackend, FIXTURES);
    await expect(model.reverse(['héllo'])).rejects.toThrow(/unknown character U\+00E9 at position 2 of "héllo"/);
    await expect(model.reverse([`${'a'.repeat(20)}é`])).rejects.toThrow(/unknown character U\+00E9 at position 21 of/); // past the first piece
    await expect(model.reverseIds(['a'.repeat(65)])).rejects.toThrow(/65 tokens, longer than the model's 64 positions/);
    const long = 'the quick brown fox jumps over the lazy dog and keeps on running'; // 64 characters, 4 pieces
    expect(await model.reverse([long])).toEqual([[...long].reverse().join('')]); // reverse() goes in pieces of 16
  });
});

/** A small config with every option flipped away from the reverse model's. */
const variant: TransformerConfig = {
  encoderLayers: 1,
  decoderLayers: 2,
  dModel: 16,
  heads: 2,
  dFF: 24,
  srcVocab: 11,
  tgtVocab: 11,
  sharedEmbeddings: true,
  generatorBias: true,
  norm: 'pre',
  activation: 'gelu_tanh',
  maxLen: 12,
  padId: 0,
  positional: 'learned',
  embedScale: false,
  eps: 1e-6,
};

function randomWeights(names: ReadonlyMap<string, readonly number[]>, seed: number): Map<string, NDArray> {
  const rng = new Prng(seed);
  return new Map([...names].map(([name, shape]) => [name, ndarray('f32', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next() - 0.5))]));
}

describe('Transformer variants (pre-norm, learned positions, shared embeddings, gelu)', () => {
  it('declares the expected weights: shared table, final stack norms, positions, no generator weight', () => {
    const names = [...expectedWeights(buildTransformer(variant)).keys()];
    expect(names).toContain('shared_embed');
    expect(names).toContain('src_pos');
    expect(names).toContain('tgt_pos');
    expect(names).toContain('encoder.norm.weight');
    expect(names).toContain('decoder.norm.bias');
    expect(names).toContain('generator.bias');
    expect(names).not.toContain('generator.weight');
    expect(names).not.toContain('src_embed');
    expect(names.filter((n) => n.startsWith('decoder.layers.1.cross_attn.'))).toHaveLength(8);
  });

  it('encoder + decoder graphs equal the teacher-forcing graph, and the last-position graph its last row', async () => {
    const weights = randomWeights(expectedWeights(buildTransformer(variant)), 7);
    const src = ndarray('i32', [2, 5], [3, 4, 5, 6, 7, 8, 9, 10, 0, 0]);
    const tgt = ndarray('i32', [2, 4], [1, 3, 4, 5, 1, 6, 7, 8]);
    const full = await (await referenceBackend.prepare(buildTransformer(variant), weights)).run({ src_ids: src, tgt_ids: tgt });
    const memory = (await (await referenceBackend.prepare(buildTransformerEncoder(variant), weights)).run({ src_ids: src }))['memory']!;
    const logits = (await (await referenceBackend.prepare(buildTransformerDecoder(variant), weights)).run({ memory, src_ids: src, tgt_ids: tgt }))['logits']!;
    const last = (await (await referenceBackend.prepare(buildTransformerDecoder(variant, { lastOnly: true }), weights)).run({ memory, src_ids: src, tgt_ids: tgt }))['logits']!;
    expect(maxAbsDiff(memory.data, full['memory']!.data)).toBe(0);
    expect(maxAbsDiff(logits.data, full['logits']!.data)).toBe(0);
    expect(last.shape).toEqual([2, 1, 11]);
    for (let b = 0; b < 2; b++) expect(Array.from(last.data.subarray(b * 11, (b + 1) * 11))).toEqual(Array.from(logits.data.subarray((b * 4 + 3) * 11, (b * 4 + 4) * 11)));
    // cpu (float32) against the float64 reference
    const cpu = await (await cpuBackend.prepare(buildTransformer(variant), weights)).run({ src_ids: src, tgt_ids: tgt });
    expect(maxAbsDiff(cpu['logits']!.data, full['logits']!.data)).toBeLessThan(1e-5);
  });

  it('source padding does not change a row: padded batch rows equal the row alone', async () => {
    const weights = randomWeights(expectedWeights(buildTransformer(variant)), 8);
    const runner = new TransformerRunner(variant, weights, cpuBackend);
    const both = await greedyDecode(runner, [[3, 4, 5, 6, 7], [8, 9]], { bos: 1, eos: 2, maxLen: 8 });
    const alone = await greedyDecode(runner, [[8, 9]], { bos: 1, eos: 2, maxLen: 8 });
    expect(both[1]).toEqual(alone[0]);
  });
});

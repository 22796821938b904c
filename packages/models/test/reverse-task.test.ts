/** The reverse task's batches (what `loom train reverse` trains on) and the source format a trained reverse.json records. */
import { describe, expect, it } from 'vitest';
import { drawReverseBatch, heldOutTexts, reverseBatch, TaskRandom } from '../src/training/reverse-task.ts';
import { parseReverseSpec, reverseJsonOf, reverseSpecFromJson, sourceIds } from '../src/transformer/reverse-spec.ts';
import { fixtureJson } from './helpers.ts';

const spec = reverseSpecFromJson(fixtureJson('reverse.json'));
const { vocab } = spec;

describe('reverse task batches', () => {
  it('pads to multiples of 8; targets are BOS + reversal and reversal + EOS; PAD where nothing is predicted', () => {
    const b = reverseBatch(vocab, ['abc', 'hello']);
    expect(b.src.shape).toEqual([2, 8]);
    expect(Array.from(b.src.data.slice(0, 8))).toEqual([...vocab.encode('abc'), 0, 0, 0, 0, 0]);
    expect(Array.from(b.tgtIn.data.slice(8, 14))).toEqual([vocab.bos, ...vocab.encode('olleh')]);
    expect(Array.from(b.tgtOut.data.slice(8, 15))).toEqual([...vocab.encode('olleh'), vocab.eos, 0]);
    expect(b.tokens).toBe(4 + 6);
  });

  it('with sourceEos the source ends with EOS too (and a row of 8 characters takes 16 positions)', () => {
    const b = reverseBatch(vocab, ['abcdefgh', 'ab'], true);
    expect(b.src.shape).toEqual([2, 16]);
    expect(Array.from(b.src.data.slice(0, 9))).toEqual([...vocab.encode('abcdefgh'), vocab.eos]);
    expect(Array.from(b.src.data.slice(16, 19))).toEqual([...vocab.encode('ab'), vocab.eos]);
    expect(Array.from(b.tgtOut.data.slice(0, 9))).toEqual([...vocab.encode('hgfedcba'), vocab.eos]);
  });

  it('draws rows within BUCKET_SPREAD of the batch longest, every length from 1 to maxLen, the same for the same seed', () => {
    const lengths = new Set<number>();
    const random = new TaskRandom(3);
    for (let i = 0; i < 400; i++) {
      const b = drawReverseBatch(vocab, random, 8, 48, true);
      const longest = Math.max(...b.texts.map((t) => t.length));
      for (const t of b.texts) {
        expect(t.length).toBeGreaterThanOrEqual(Math.max(1, longest - 7));
        lengths.add(t.length);
      }
    }
    expect(lengths.size).toBe(48);
    expect(drawReverseBatch(vocab, new TaskRandom(9), 4, 48).texts).toEqual(drawReverseBatch(vocab, new TaskRandom(9), 4, 48).texts);
  });

  it('held-out strings cover every length in turn, from their own seed', () => {
    const texts = heldOutTexts(vocab.chars, 96, 48, 5);
    expect(texts.map((t) => t.length)).toEqual([...Array.from({ length: 48 }, (_, i) => i + 1), ...Array.from({ length: 48 }, (_, i) => i + 1)]);
    expect(heldOutTexts(vocab.chars, 96, 48, 6)).not.toEqual(texts);
  });
});

describe("reverse.json's source_eos and source_positions", () => {
  it('is false for the PyTorch model, kept by reverseJsonOf, and makes sourceIds end with EOS', () => {
    expect(spec.sourceEos).toBe(false);
    expect(sourceIds(spec, 'ab')).toEqual(vocab.encode('ab'));
    const trained = parseReverseSpec(JSON.stringify(reverseJsonOf({ ...spec, sourceEos: true, trainedMaxChars: 48 })));
    expect(trained).toMatchObject({ sourceEos: true, trainedMaxChars: 48 });
    expect(sourceIds(trained, 'ab')).toEqual([...vocab.encode('ab'), vocab.eos]);
    expect(() => parseReverseSpec(JSON.stringify({ ...reverseJsonOf(spec), source_eos: 'yes' }), 'r.json')).toThrow(/r\.json: source_eos: /);
  });

  it("source_positions 'from-end' reaches the config and back; anything else is refused naming the field", () => {
    expect(spec.config.sourcePositions).toBeUndefined();
    const json = reverseJsonOf({ ...spec, config: { ...spec.config, sourcePositions: 'from-end' } });
    expect(json['source_positions']).toBe('from-end');
    expect(parseReverseSpec(JSON.stringify(json)).config.sourcePositions).toBe('from-end');
    expect(() => parseReverseSpec(JSON.stringify({ ...json, source_positions: 'backwards' }), 'r.json')).toThrow(/r\.json: source_positions: /);
  });
});

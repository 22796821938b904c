import { describe, expect, it } from 'vitest';
import { Prng } from '../src/decoding/prng.ts';
import { argmax, isSampling, pickToken, validateSampling } from '../src/decoding/sampling.ts';
import { decodeLoop, type StepDecoder } from '../src/decoding/step.ts';

describe('Prng', () => {
  it('is reproducible and uniform enough', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const xs = Array.from({ length: 10000 }, () => a.next());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b.next()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
    expect(new Prng(43).next()).not.toBe(new Prng(42).next());
  });
});

describe('pickToken', () => {
  const logits = Float32Array.from([0, 3, 1, 2.5, -1]);

  it('is greedy without options or with temperature 0, first index on ties', () => {
    expect(pickToken(logits, {}, new Prng(1))).toBe(1);
    expect(pickToken(logits, { temperature: 0, topK: 3 }, new Prng(1))).toBe(1);
    expect(argmax([1, 5, 5])).toBe(1);
    expect(isSampling({ topP: 0.9 })).toBe(true);
  });

  it('top-k 1 is greedy; top-k 2 only draws the two best', () => {
    const rng = new Prng(5);
    for (let i = 0; i < 50; i++) expect(pickToken(logits, { temperature: 1, topK: 1 }, rng)).toBe(1);
    const seen = new Set(Array.from({ length: 300 }, () => pickToken(logits, { topK: 2 }, rng)));
    expect([...seen].sort()).toEqual([1, 3]);
  });

  it('top-p keeps the smallest set reaching p', () => {
    // probabilities 0.5, 0.3, 0.2: p = 0.6 keeps the first two, p = 0.5 only the first
    const l = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.2)]);
    const rng = new Prng(9);
    expect(new Set(Array.from({ length: 300 }, () => pickToken(l, { topP: 0.6 }, rng)))).toEqual(new Set([0, 1]));
    expect(new Set(Array.from({ length: 50 }, () => pickToken(l, { topP: 0.5 }, rng)))).toEqual(new Set([0]));
  });

  it('samples in proportion to softmax(logits / T)', () => {
    const l = Float32Array.from([0, Math.log(3)]);
    const rng = new Prng(3);
    const ones = Array.from({ length: 4000 }, () => pickToken(l, { temperature: 1 }, rng)).filter((t) => t === 1).length;
    expect(ones / 4000).toBeGreaterThan(0.72);
    expect(ones / 4000).toBeLessThan(0.78);
  });

  it('rejects bad options', () => {
    expect(() => validateSampling({ temperature: -1 })).toThrow(/temperature/);
    expect(() => validateSampling({ topK: 0 })).toThrow(/top-k/);
    expect(() => validateSampling({ topP: 1.5 })).toThrow(/top-p/);
  });
});

describe('decodeLoop', () => {
  /** A fake model whose next token is (last token + 1) mod 10, recording what it was fed. */
  class Counter implements StepDecoder {
    fed: number[][] = [];
    private last: number[] = [];
    async prefill(prefixes: readonly (readonly number[])[]): Promise<Float32Array[]> {
      this.last = prefixes.map((p) => p[p.length - 1]!);
      return this.logits();
    }
    async step(tokens: readonly number[]): Promise<Float32Array[]> {
      this.fed.push([...tokens]);
      this.last = [...tokens];
      return this.logits();
    }
    private logits(): Float32Array[] {
      return this.last.map((t) => {
        const l = new Float32Array(10);
        l[(t + 1) % 10] = 1;
        return l;
      });
    }
  }

  it('stops each row at its own stop token and fills finished rows', async () => {
    const model = new Counter();
    const out = await decodeLoop(model, [[5], [7]], { maxNewTokens: 8, stopAt: 9, pick: argmax, filler: 0 });
    expect(out).toEqual([[5, 6, 7, 8, 9], [7, 8, 9]]);
    expect(model.fed).toEqual([[6, 8], [7, 9], [8, 0]]);
  });

  it('stops at maxNewTokens without an extra model call', async () => {
    const model = new Counter();
    const out = await decodeLoop(model, [[1]], { maxNewTokens: 3, stopAt: null, pick: argmax, filler: 0 });
    expect(out).toEqual([[1, 2, 3, 4]]);
    expect(model.fed).toHaveLength(2);
    expect(await decodeLoop(model, [[1]], { maxNewTokens: 0, pick: argmax, filler: 0 })).toEqual([[1]]);
  });
});

import { dropoutHash, dropoutKeeps, mulberry32 } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { crossEntropyLoss, dropoutHashHelpers, dropoutThreshold, HASH_MOD, type Word24Syntax } from '../src/training-kernels.ts';

/**
 * What the GPU renderers of the training ops share (src/training-kernels.ts), checked without a GPU:
 * the dropout hash as printed from its data equals @loom/graph's, also for element indices past 2^24
 * (which a GPU test cannot reach cheaply), the threshold keeps exactly the elements the reference
 * keeps, and the cancellation-free loss formula is the reference's.
 */

/** The printed hash in JavaScript, words as exact numbers (what WGSL's u32 and GLSL's limbs compute). */
const JS_WORD24: Word24Syntax = {
  fn: (name, params, body) => `function ${name}(${params.join(', ')}) {\n${body.join('\n')}\n}`,
  var: (name, value) => `let ${name} = ${value};`,
  literal: (n) => `${n}`,
  add: (a, b) => `((${a} + ${b}) % ${HASH_MOD})`,
  mul: (a, b) => `Number((BigInt(${a}) * BigInt(${b})) % ${HASH_MOD}n)`,
  shr11: (x) => `Math.floor(${x} / 2048)`,
  helpers: [],
};

const printedHash = new Function(`${dropoutHashHelpers(JS_WORD24).join('\n')}\nreturn loom_dropout_hash;`)() as (seed24: number, stream: number, lo: number, hi: number) => number;

describe('the training kernels the GPU renderers share', () => {
  it("the dropout hash printed from its constants is @loom/graph's, for any seed, stream and index below 2^31", () => {
    const random = mulberry32(21);
    const indices = [0, 1, 2 ** 24 - 1, 2 ** 24, 2 ** 24 + 1, 3 * 2 ** 24 + 12345, 2 ** 31 - 1, ...Array.from({ length: 300 }, () => Math.floor(random() * 2 ** 31))];
    const seeds = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 123456789, -987654321];
    for (const seed of seeds) {
      for (const stream of [0, 3, 2 ** 24 - 1]) {
        for (const index of indices) {
          const seed24 = ((seed % HASH_MOD) + HASH_MOD) % HASH_MOD;
          expect(printedHash(seed24, stream, index % HASH_MOD, Math.floor(index / HASH_MOD))).toBe(dropoutHash(seed, stream, index));
        }
      }
    }
  });

  it('the threshold keeps exactly the elements the reference keeps, for p that float32 cannot hold', () => {
    for (const p of [0, 0.1, 0.25, 1 / 3, 0.5, 0.9, 0.999999, 1 - 2 ** -24]) {
      const threshold = dropoutThreshold(p);
      expect(Math.fround(threshold)).toBe(threshold);
      for (let i = 0; i < 2000; i++) expect(dropoutHash(7, 1, i) >= threshold).toBe(dropoutKeeps(7, 1, i, p));
    }
  });

  it("the cross-entropy loss as a sum of non-negative terms equals the reference's formula", () => {
    const x = [0.5, -1.25, 3, 2.5, -0.75];
    const label = 2;
    for (const s of [0, 0.1, 1]) {
      const max = Math.max(...x);
      const row = { sumExp: String(x.reduce((a, v) => a + Math.exp(v - max), 0)), labelGap: String(max - x[label]!), gaps: String(x.reduce((a, v) => a + (max - v), 0)) };
      const loss = new Function(`const log = Math.log; return ${crossEntropyLoss(row, s, x.length, String)};`)() as number;
      const lse = max + Math.log(x.reduce((a, v) => a + Math.exp(v - max), 0));
      expect(loss).toBeCloseTo(lse - ((1 - s) * x[label]! + (s / x.length) * x.reduce((a, v) => a + v, 0)), 12);
    }
  });
});

/**
 * The q8 / q4 weight stores: quantizeMatrix's layout and accuracy bounds, roundToHalf (the float16
 * rounding of `scales: 'f16'`) against every half, and the two ops that read a store, dequantize and
 * quantized_matmul: their type rules, and the interpreter against float64 loops over dequantizeMatrix.
 *
 * Letters: W is [K, N] (K the reduction axis, N the output columns); a group is `group` consecutive
 * K of one column, sharing a scale (and a zero point).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  activationCode,
  activationScale,
  checkQuantization,
  codeAt,
  codesPerWord,
  dequantizeMatrix,
  GraphBuilder,
  GraphTypeError,
  groupSize,
  halfToFloat,
  InputError,
  interpret,
  Q4,
  Q8,
  quantizeMatrix,
  roundHalfEven,
  roundToHalf,
  type Expr,
  type NDArray,
  type QuantizedMatrix,
  type WeightQuantization,
} from '../src/index.ts';
import { caught, expectClose, f32, i32, inferOp, noise, runOp } from './test-helpers.ts';

// ---------------------------------------------------------------------------------------------
// helpers

/** Q8 or Q4 with some fields changed. */
const store = (base: WeightQuantization, change: Partial<WeightQuantization> = {}): WeightQuantization => ({ ...base, ...change });

/** A weight matrix W [k, n], row-major (the layout quantizeMatrix reads when not transposed). */
interface Matrix {
  readonly k: number;
  readonly n: number;
  readonly w: readonly number[];
}

/** One group's weights: column `col`, K from `k0`. */
interface Group {
  readonly col: number;
  readonly g: number;
  readonly k0: number;
  readonly values: readonly number[];
}

function groupsOf({ k, n, w }: Matrix, size: number): Group[] {
  const out: Group[] = [];
  for (let col = 0; col < n; col++) {
    for (let g = 0, k0 = 0; k0 < k; g++, k0 += size) {
      out.push({ col, g, k0, values: Array.from({ length: Math.min(size, k - k0) }, (_, i) => w[(k0 + i) * n + col]!) });
    }
  }
  return out;
}

/** W [k, n] as [n, k]. */
const transposeOf = ({ k, n, w }: Matrix): number[] => Array.from({ length: k * n }, (_, i) => w[(i % k) * n + Math.floor(i / k)]!);

const quantize = (m: Matrix, q: WeightQuantization): QuantizedMatrix => quantizeMatrix(m.w, m.k, m.n, false, q);
const wordsOf = (m: QuantizedMatrix): number => Math.ceil(m.k / codesPerWord(m.bits));
const groupsPerColumn = (m: QuantizedMatrix): number => Math.ceil(m.k / m.group);
const zeroPointOf = (m: QuantizedMatrix, index: number): number => (m.zeroPoints ? m.zeroPoints[index]! : 2 ** (m.bits - 1));

/**
 * A bound plus what float arithmetic adds: a float32 scale is off by a relative 2^-24 (times up to
 * 255 codes: under 2^-15), and by 2^-150 absolute when subnormal. Far below what a wrong code costs.
 */
const slack = (bound: number): number => bound * (1 + 2 ** -12) + 2 ** -140;

/** Runs `check` on every element of every group; `got` is the dequantized value. */
function eachElement(m: Matrix, q: QuantizedMatrix, check: (e: { w: number; got: number; code: number; scale: number; zero: number; group: Group; kk: number }) => void): void {
  const got = dequantizeMatrix(q);
  for (const group of groupsOf(m, q.group)) {
    const index = group.col * groupsPerColumn(q) + group.g;
    group.values.forEach((w, i) => {
      const kk = group.k0 + i;
      check({ w, got: got[kk * m.n + group.col]!, code: codeAt(q.codes, q.bits, wordsOf(q), group.col, kk), scale: q.scales[index]!, zero: zeroPointOf(q, index), group, kk });
    });
  }
}

/** Throws (naming where, the error and the bound) past the bound plus slack; fast-check then shrinks the case. */
function within(error: number, bound: number, where: string): void {
  if (!(error <= slack(bound))) throw new Error(`${where}: error ${error} > bound ${bound}`);
}

// Weights: float32 values (what a checkpoint holds), zeros often (they must stay exact), of both signs.
const weight = fc.oneof({ weight: 4, arbitrary: fc.float({ min: -64, max: 64, noNaN: true }) }, { weight: 1, arbitrary: fc.constantFrom(0, -0) });

/** W [k, n] of random weights, K up to `maxK`. */
const matrix = (maxK = 40, maxN = 3): fc.Arbitrary<Matrix> =>
  fc
    .record({ k: fc.integer({ min: 1, max: maxK }), n: fc.integer({ min: 1, max: maxN }) })
    .chain(({ k, n }) => fc.array(weight, { minLength: k * n, maxLength: k * n }).map((w) => ({ k, n, w })));

/** A group size: small numbers (so K is often not a multiple), sizes past K, or per channel. */
const groupArb = fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constantFrom(32, 'channel' as const));

/** The four stores: 8 and 4 bits, symmetric and with zero points, in f32 or f16 scales. */
const storeArb = fc.record({
  bits: fc.constantFrom(8 as const, 4 as const),
  group: groupArb,
  scales: fc.constantFrom('f32' as const, 'f16' as const),
  zeroPoints: fc.boolean(),
});

// ---------------------------------------------------------------------------------------------

describe('roundToHalf', () => {
  // bit patterns 0 .. 0x7bff are the finite non-negative halves, in increasing order
  const HALVES = Array.from({ length: 0x7c00 }, (_, h) => halfToFloat(h));
  const LARGEST = 65504;

  /** The double next to x (x > 0) upward or downward: the closest a value gets to a midpoint. */
  function nextDouble(x: number, direction: 1 | -1): number {
    const bits = new BigInt64Array(Float64Array.of(x).buffer);
    bits[0] = bits[0]! + BigInt(direction);
    return new Float64Array(bits.buffer)[0]!;
  }

  it('returns every finite half unchanged (all 63488 bit patterns, both zeros)', () => {
    const changed: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const x = halfToFloat(h);
      if (!Number.isFinite(x)) continue; // exponent 31: infinities and NaNs
      if (!Object.is(roundToHalf(x), x)) changed.push(`0x${h.toString(16)}: ${x} -> ${roundToHalf(x)}`);
    }
    expect(changed).toEqual([]);
  });

  it('rounds each midpoint between consecutive halves to the even one, and a double either side of it to the nearer', () => {
    const wrong: string[] = [];
    for (let h = 0; h + 1 < HALVES.length; h++) {
      const [lo, hi] = [HALVES[h]!, HALVES[h + 1]!];
      const mid = (lo + hi) / 2; // exact: a half has 11 significant bits
      const even = h % 2 === 0 ? lo : hi; // the even one has an even last bit
      const cases: [number, number][] = [
        [mid, even],
        [-mid, -even],
        [nextDouble(mid, -1), lo],
        [nextDouble(mid, 1), hi],
      ];
      for (const [x, want] of cases) if (!Object.is(roundToHalf(x), want)) wrong.push(`${x} -> ${roundToHalf(x)}, want ${want}`);
    }
    expect(wrong).toEqual([]);
  });

  it('overflows to Infinity from 65520 (the midpoint past 65504, whose even neighbour is 2^16) on', () => {
    expect(roundToHalf(LARGEST)).toBe(LARGEST);
    expect(roundToHalf(65519)).toBe(LARGEST);
    expect(roundToHalf(nextDouble(65520, -1))).toBe(LARGEST);
    expect(roundToHalf(-65519.5)).toBe(-LARGEST);
    for (const x of [65520, nextDouble(65520, 1), 65536, 1e6, 1e300, Number.MAX_VALUE]) {
      expect(roundToHalf(x)).toBe(Infinity);
      expect(roundToHalf(-x)).toBe(-Infinity);
    }
  });

  it('flushes magnitudes up to 2^-25 (half the smallest subnormal, a tie to even 0) to a zero of the same sign, and keeps 2^-24', () => {
    for (const x of [2 ** -25, 2 ** -26, 2 ** -40, Number.MIN_VALUE]) {
      expect(Object.is(roundToHalf(x), 0)).toBe(true);
      expect(Object.is(roundToHalf(-x), -0)).toBe(true);
    }
    expect(roundToHalf(2 ** -24)).toBe(2 ** -24);
    expect(roundToHalf(-(2 ** -24))).toBe(-(2 ** -24));
    expect(roundToHalf(nextDouble(2 ** -25, 1))).toBe(2 ** -24);
    expect(roundToHalf(3 * 2 ** -25)).toBe(2 ** -23); // 1.5 subnormal steps: the tie goes to 2 steps
  });

  it('passes NaN, the infinities and the zeros through', () => {
    expect(roundToHalf(NaN)).toBeNaN();
    expect(roundToHalf(Infinity)).toBe(Infinity);
    expect(roundToHalf(-Infinity)).toBe(-Infinity);
    expect(Object.is(roundToHalf(0), 0)).toBe(true);
    expect(Object.is(roundToHalf(-0), -0)).toBe(true);
  });

  it('gives a nearest half for any double (property)', () => {
    /** The two halves around |x| (|x| < 65504): the last at most |x| and the next. */
    function neighbours(magnitude: number): [number, number] {
      let [lo, hi] = [0, HALVES.length - 1];
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (HALVES[mid]! <= magnitude) lo = mid;
        else hi = mid;
      }
      return [HALVES[lo]!, HALVES[hi]!];
    }
    const values = fc.oneof(fc.double({ min: -70000, max: 70000, noNaN: true }), fc.double({ min: -(2 ** -10), max: 2 ** -10, noNaN: true }));
    fc.assert(
      fc.property(values, (x) => {
        const r = roundToHalf(x);
        const magnitude = Math.abs(x);
        if (magnitude >= LARGEST) return Object.is(r, Math.sign(x) * (magnitude < 65520 ? LARGEST : Infinity));
        const signBit = (v: number) => v < 0 || Object.is(v, -0);
        const [lo, hi] = neighbours(magnitude);
        const nearest = magnitude - lo <= hi - magnitude ? [lo] : [hi];
        if (magnitude - lo === hi - magnitude) nearest.push(hi); // a tie: either is nearest (the midpoint test checks which)
        return signBit(r) === signBit(x) && nearest.includes(Math.abs(r));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('quantizeMatrix: layout', () => {
  it('packs 8-bit codes 3 a word from bit 0 up, a column after another (hand-computed)', () => {
    // column 0: max |w| = 127, scale 1; column 1: max |w| = 63.5, scale 0.5; codes 128 + w / scale
    const w = [
      [127, 63.5],
      [-127, -0.5],
      [0, 10],
      [64, -63.5],
    ].flat();
    const q = quantizeMatrix(w, 4, 2, false, Q8);
    // column 0 codes 255, 1, 128 | 192; column 1 codes 255, 127, 148 | 1 (the first code in the low byte)
    expect(Array.from(q.codes)).toEqual([0x80_01_ff, 0xc0, 0x94_7f_ff, 0x01]);
    expect(Array.from(q.scales)).toEqual([1, 0.5]);
    expect(q.zeroPoints).toBeUndefined();
    expect([q.bits, q.group, q.k, q.n]).toEqual([8, 32, 4, 2]);
    expect(Array.from(dequantizeMatrix(q))).toEqual(w);
    expect(codeAt(q.codes, 8, 2, 1, 2)).toBe(148);
    expect(codeAt(q.codes, 8, 2, 0, 3)).toBe(192);
  });

  it('packs 4-bit codes 6 a word (Q4_0: the extreme gets code 0, its opposite clamps at 15; hand-computed)', () => {
    // column 0: extreme -8, scale -8 / -8 = 1; column 1: extreme 4 (the first of 4 and -4), scale -0.5
    const w = [
      [-8, 4],
      [7, -2],
      [0, 1],
      [1, 0],
      [-1, 0],
      [3, 0],
      [5, -4],
    ].flat();
    const q = quantizeMatrix(w, 7, 2, false, Q4);
    // column 0 codes 0, 15, 8, 9, 7, 11 | 13; column 1 codes 0, 12, 6, 8, 8, 8 | 15 (-4 / -0.5 + 8 = 16, clamped)
    expect(Array.from(q.codes)).toEqual([0xb7_98_f0, 0xd, 0x88_86_c0, 0xf]);
    expect(Array.from(q.scales)).toEqual([1, -0.5]);
    expectClose(dequantizeMatrix(q), [-8, 4, 7, -2, 0, 1, 1, 0, -1, 0, 3, 0, 5, -3.5], 0); // (zeros of a negative scale are -0)
  });

  it('stores zero points with the codes (8 bits, hand-computed)', () => {
    // range [-4, 11.9375] = 255 / 16: scale 1/16, zero point 4 * 16 = 64
    const q = quantizeMatrix([-4, 11.9375, 0, 1], 4, 1, false, store(Q8, { zeroPoints: true }));
    expect(Array.from(q.codes)).toEqual([0x40_ff_00, 0x50]); // codes 0, 255, 64 | 80
    expect(Array.from(q.scales)).toEqual([1 / 16]);
    expect(Array.from(q.zeroPoints!)).toEqual([64]);
    expect(Array.from(dequantizeMatrix(q))).toEqual([-4, 11.9375, 0, 1]);
  });

  it('codesPerWord, groupSize, Q8 and Q4 are what the stores document', () => {
    expect([codesPerWord(8), codesPerWord(4)]).toEqual([3, 6]);
    expect(groupSize(Q8, 100)).toBe(32);
    expect(groupSize(store(Q8, { group: 'channel' }), 100)).toBe(100);
    expect(Q8).toEqual({ bits: 8, group: 32, scales: 'f32', zeroPoints: false });
    expect(Q4).toEqual({ bits: 4, group: 32, scales: 'f32', zeroPoints: false });
  });

  it('every word is below 2^24, holds ceil(K / per) per column, codes lie in range and the bits past K are 0 (property)', () => {
    fc.assert(
      fc.property(matrix(), storeArb, (m, s) => {
        const q = quantize(m, s);
        const words = wordsOf(q);
        expect(q.codes.length).toBe(m.n * words);
        expect(q.scales.length).toBe(m.n * Math.ceil(m.k / groupSize(s, m.k)));
        for (const word of q.codes) if (!(word >= 0 && word < 2 ** 24)) throw new Error(`word ${word}`);
        // the unused slots of each column's last word read as code 0
        for (let col = 0; col < m.n; col++) for (let kk = m.k; kk < words * codesPerWord(s.bits); kk++) expect(codeAt(q.codes, s.bits, words, col, kk)).toBe(0);
        // symmetric 8 bits with f32 scales never reaches code 0 (|w / scale| <= 127 around 128); a scale
        // rounded down to a half can put the extreme at -127.5 or past, and code 0 is then the nearest
        const lowest = s.bits === 8 && !s.zeroPoints && s.scales === 'f32' ? 1 : 0;
        eachElement(m, q, ({ code }) => {
          if (code < lowest || code > 2 ** s.bits - 1) throw new Error(`code ${code}`);
        });
      }),
    );
  });

  it('a transposed [n, k] input gives the same store as the [k, n] matrix, and dequantizes transposed (property)', () => {
    fc.assert(
      fc.property(matrix(), storeArb, (m, s) => {
        const plain = quantize(m, s);
        const fromTransposed = quantizeMatrix(transposeOf(m), m.k, m.n, true, s);
        expect(fromTransposed).toEqual(plain);
        expect(Array.from(dequantizeMatrix(plain, true))).toEqual(transposeOf({ ...m, w: Array.from(dequantizeMatrix(plain)) }));
      }),
    );
  });

  it("'channel' keeps one scale per column, and a K not a multiple of the group ends in a short group of its own", () => {
    // column 0 grows with k, column 1 is constant: per channel each column has one scale
    const m: Matrix = { k: 10, n: 2, w: Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? i / 2 + 1 : -2)) };
    const channel = quantize(m, store(Q8, { group: 'channel' }));
    expect(channel.group).toBe(10);
    expect(Array.from(channel.scales)).toEqual([Math.fround(10 / 127), Math.fround(2 / 127)]);
    // groups of 4 over K = 10: K 0-3, 4-7, 8-9, each scaled by its own largest value
    const grouped = quantize(m, store(Q8, { group: 4 }));
    expect(Array.from(grouped.scales)).toEqual([4, 8, 10, 2, 2, 2].map((x) => Math.fround(x / 127)));
  });
});

describe('quantizeMatrix: accuracy bounds (the documented ones)', () => {
  it('symmetric 8 bits: scale = max|w| / 127 and every error is at most scale / 2 (property)', () => {
    fc.assert(
      fc.property(matrix(), groupArb, (m, group) => {
        const q = quantize(m, store(Q8, { group }));
        eachElement(m, q, ({ w, got, scale, group: g, kk }) => {
          const want = Math.max(...g.values.map(Math.abs)) / 127;
          expect(scale).toBe(Math.fround(want));
          within(Math.abs(w - got), want / 2, `[${kk}, ${g.col}]`);
        });
      }),
    );
  });

  it('symmetric 4 bits (Q4_0): the extreme is exact, errors within the code range are at most |scale| / 2 (property)', () => {
    fc.assert(
      fc.property(matrix(), groupArb, (m, group) => {
        const q = quantize(m, store(Q4, { group }));
        eachElement(m, q, ({ w, got, scale, group: g, kk }) => {
          // scale = m / -8 for m a value of largest magnitude: |scale| is largest / 8 and has the sign opposite m's
          const largest = Math.max(...g.values.map(Math.abs));
          const isExtreme = (v: number) => Math.abs(v) === largest && Math.sign(v) === -Math.sign(scale);
          expect(Math.abs(scale)).toBe(Math.fround(largest / 8));
          if (scale !== 0) expect(g.values.some(isExtreme)).toBe(true);
          // m gets code 0: exact (float32 / 8 is exact, bar subnormals, which the slack covers)
          if (isExtreme(w)) within(Math.abs(w - got), 0, `extreme [${kk}, ${g.col}]`);
          // the codes span scale * [-8, 7]: within half a step of that span, the nearest code is within half a step
          const [end0, end1] = [-8 * scale, 7 * scale];
          const inRange = Math.abs(w - (end0 + end1) / 2) <= Math.abs(end0 - end1) / 2 + Math.abs(scale) / 2;
          if (inRange) within(Math.abs(w - got), Math.abs(scale) / 2, `[${kk}, ${g.col}]`);
          // past the span: the far side beyond 7 * scale, down to -m, clamped at code 15: off by at most a step
          else within(Math.abs(w - got), Math.abs(scale), `[${kk}, ${g.col}] (past the codes)`);
        });
      }),
    );
  });

  it('rounds w / scale half up, as Math.round does: the double just below a half goes down, a half and -1.5 go up', () => {
    // scale 127 / 127 = 1: the codes are 128 + round(w)
    const q = quantizeMatrix([127, 0.49999999999999994, 0.5, -1.5], 4, 1, false, Q8);
    expect(Array.from(q.codes)).toEqual([255 | (128 << 8) | (129 << 16), 127]);
  });

  it('symmetric 4 bits: a value opposite the extreme and as large is off by a whole step, not half (Q4_0 clamps at code 15)', () => {
    // this is why the property above bounds only the code range by |scale| / 2
    const q = quantizeMatrix([1, -1], 2, 1, false, Q4);
    expect(q.scales[0]).toBe(-0.125);
    expect(Array.from(dequantizeMatrix(q))).toEqual([1, -0.875]); // error 0.125 = |scale|
    // where +m and -m tie, the first of them is the extreme (llama.cpp's Q4_0 rule), whatever the signs
    const flipped = quantizeMatrix([0, -1, 0.5, 1], 4, 1, false, Q4);
    expect(flipped.scales[0]).toBe(0.125);
    expect(Array.from(dequantizeMatrix(flipped))).toEqual([0, -1, 0.5, 0.875]);
  });

  it('with zero points: scale = (max(w, 0) - min(w, 0)) / (2^bits - 1), zero points are codes, every error is at most scale / 2 (property)', () => {
    fc.assert(
      fc.property(matrix(), groupArb, fc.constantFrom(8 as const, 4 as const), (m, group, bits) => {
        const q = quantize(m, { bits, group, scales: 'f32', zeroPoints: true });
        eachElement(m, q, ({ w, got, scale, zero, group: g, kk }) => {
          const want = (Math.max(0, ...g.values) - Math.min(0, ...g.values)) / (2 ** bits - 1);
          expect(scale).toBe(Math.fround(want));
          if (!(Number.isInteger(zero) && zero >= 0 && zero <= 2 ** bits - 1)) throw new Error(`zero point ${zero}`);
          within(Math.abs(w - got), want / 2, `[${kk}, ${g.col}]`);
        });
      }),
    );
  });

  it('each code is the nearest one on the stored scale grid, f16 scales included (property)', () => {
    // codes are computed against the stored (rounded) scale: no code beside it lands closer to w
    fc.assert(
      fc.property(matrix(), storeArb, (m, s) => {
        const q = quantize(m, s);
        const top = 2 ** s.bits - 1;
        eachElement(m, q, ({ w, code, scale, zero, group: g, kk }) => {
          const distance = (c: number) => Math.abs(w - scale * (c - zero));
          for (const other of [code - 1, code + 1]) {
            if (other >= 0 && other <= top && distance(other) < distance(code) - slack(Math.abs(scale) * 2 ** -20)) {
              throw new Error(`[${kk}, ${g.col}]: code ${code} is ${distance(code)} from ${w}, code ${other} ${distance(other)}`);
            }
          }
        });
      }),
    );
  });

  it("with scales 'f16' every stored scale is a half (property)", () => {
    fc.assert(
      fc.property(matrix(), storeArb, (m, s) => {
        const q = quantize(m, { ...s, scales: 'f16' });
        for (const scale of q.scales) if (roundToHalf(scale) !== scale) throw new Error(`scale ${scale} is not a half`);
      }),
    );
    // and 'f32' keeps what f16 would round: 1/127 is not a half
    expect(quantizeMatrix([1], 1, 1, false, Q8).scales[0]).toBe(Math.fround(1 / 127));
    expect(quantizeMatrix([1], 1, 1, false, store(Q8, { scales: 'f16' })).scales[0]).toBe(roundToHalf(1 / 127));
  });

  it('zero weights dequantize to exactly 0 in every store (property)', () => {
    fc.assert(
      fc.property(matrix(), storeArb, (m, s) => {
        const got = dequantizeMatrix(quantize(m, s));
        m.w.forEach((w, i) => {
          if (w === 0 && got[i] !== 0) throw new Error(`element ${i}: 0 became ${got[i]}`);
        });
      }),
    );
  });

  it('an all-zero group gets scale 0 and dequantizes to zeros, beside groups that are not zero', () => {
    // K = 6 in groups of 3: column 0's second group is zero, column 1 is zero throughout
    const w = [1, 0, -2, 0, 0.5, 0, 0, 0, 0, 0, 0, 0];
    for (const bits of [8, 4] as const) {
      for (const zeroPoints of [false, true]) {
        const q = quantizeMatrix(w, 6, 2, false, { bits, group: 3, scales: 'f16', zeroPoints });
        expect(Array.from(q.scales).map((s, i) => [i, s !== 0])).toEqual([
          [0, true],
          [1, false],
          [2, false],
          [3, false],
        ]);
        const got = dequantizeMatrix(q);
        for (const i of [6, 8, 10, 1, 3, 5, 7, 9, 11]) expect(Math.abs(got[i]!)).toBe(0);
      }
    }
  });
});

describe('quantizeMatrix: errors', () => {
  it('a non-finite weight is an InputError naming `what` and its [row, col] in the layout given', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const w = [1, 2, 3, 4, 5, bad]; // [3, 2]: bad at row 2, column 1
      const error = caught(() => quantizeMatrix(w, 3, 2, false, Q8, 'layers.0.mlp.w1'));
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toBe(`layers.0.mlp.w1: cannot quantize the non-finite value ${bad} at [2, 1]`);
    }
    // a group holding both: its NaN is named, wherever it lies; else the first infinity of the sign that ends the range below
    expect(caught(() => quantizeMatrix([Infinity, 1, NaN, 2], 4, 1, false, Q8)).message).toBe('weight: cannot quantize the non-finite value NaN at [2, 0]');
    expect(caught(() => quantizeMatrix([Infinity, 1, -Infinity, 2], 4, 1, false, Q8)).message).toBe('weight: cannot quantize the non-finite value -Infinity at [2, 0]');
    // read as [n, k] = [2, 3]: the same element sits at [1, 2] of what was given
    expect(caught(() => quantizeMatrix([1, 2, 3, 4, 5, NaN], 3, 2, true, Q4)).message).toBe('weight: cannot quantize the non-finite value NaN at [1, 2]');
  });

  it('a group whose scale f16 cannot hold (past 65504) is an InputError, not a NaN group', () => {
    // 1e7 / 127 > 65504: an Infinity scale would dequantize to Infinity * 0 = NaN
    const error = caught(() => quantizeMatrix([1, 2, 1e7, 3], 2, 2, false, store(Q8, { scales: 'f16' }), 'w'));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toMatch(/^w: output column 0, K 0 to 1 \(largest magnitude 10000000\) needs a scale beyond what f16 scales hold$/);
    expect(Array.from(dequantizeMatrix(quantizeMatrix([1, 2, 1e7, 3], 2, 2, false, Q8))).every(Number.isFinite)).toBe(true); // f32 holds it
  });

  it('checkQuantization rejects bits 3, group 0 or 1.5 and scales bf16, naming the field; quantizeMatrix checks first', () => {
    const bad = (change: Record<string, unknown>) => ({ ...Q8, ...change }) as unknown as WeightQuantization;
    const cases: [Record<string, unknown>, string][] = [
      [{ bits: 3 }, 'weight quantization: bits must be 8 or 4, got 3'],
      [{ group: 0 }, "weight quantization: group must be a positive integer or 'channel', got 0"],
      [{ group: 1.5 }, "weight quantization: group must be a positive integer or 'channel', got 1.5"],
      [{ scales: 'bf16' }, "weight quantization: scales must be 'f32' or 'f16', got bf16"],
    ];
    for (const [change, message] of cases) {
      const error = caught(() => checkQuantization(bad(change)));
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toBe(message);
      expect(() => quantizeMatrix([1, 2], 2, 1, false, bad(change))).toThrow(message);
    }
    for (const good of [Q8, Q4, store(Q4, { group: 'channel', scales: 'f16', zeroPoints: true }), store(Q8, { group: 1 })]) expect(() => checkQuantization(good)).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// the ops

/** The inputs of dequantize / quantized_matmul for a store: codes, scales and (when stored) zero points. */
function operands(q: QuantizedMatrix): NDArray[] {
  const shape = [q.n, groupsPerColumn(q)];
  return [i32([q.n, wordsOf(q)], q.codes), f32(shape, q.scales), ...(q.zeroPoints ? [f32(shape, q.zeroPoints)] : [])];
}

const attrsOf = (q: QuantizedMatrix) => ({ bits: q.bits, group: q.group, zeroPoints: q.zeroPoints !== undefined });

/** The type-rule message of a graph with one node of `op` over inputs of these types. */
const typeErrorOf = (op: string, types: Parameters<typeof inferOp>[1], attrs: Record<string, unknown>): string => {
  const error = caught(() => inferOp(op, types, attrs));
  expect(error).toBeInstanceOf(GraphTypeError);
  return error.message;
};

describe('dequantize', () => {
  const codes = ['i32', [4, 2]] as const; // N = 4, K = 6 at 8 bits: 2 words
  const scales = ['f32', [4, 2]] as const; // groups of 4: 2 groups
  const attrs = { bits: 8, group: 4, k: 6 };

  it('is [K, N], or [N, K] with transpose, N symbolic or not', () => {
    expect(inferOp('dequantize', [codes, scales], attrs)).toEqual({ dtype: 'f32', shape: [6, 4] });
    expect(inferOp('dequantize', [codes, scales, scales], { ...attrs, zeroPoints: true, transpose: true })).toEqual({ dtype: 'f32', shape: [4, 6] });
    expect(inferOp('dequantize', [['i32', ['n', 1]], ['f32', ['n', 1]]], { bits: 4, group: 32, k: 6 }).shape).toEqual([6, 'n']);
  });

  it('refuses codes, scales and zero points of the wrong dtype or shape, naming what it needs', () => {
    expect(typeErrorOf('dequantize', [['f32', [4, 2]], scales], attrs)).toMatch(/^dequantize: codes must be i32 \[N, words\], got f32 \[4, 2\]/);
    expect(typeErrorOf('dequantize', [['i32', [8]], scales], attrs)).toMatch(/codes must be i32 \[N, words\], got i32 \[8\]/);
    expect(typeErrorOf('dequantize', [codes, ['i32', [4, 2]]], attrs)).toMatch(/scales must be f32 \[N, groups\], got i32 \[4, 2\]/);
    expect(typeErrorOf('dequantize', [codes, ['f32', [3, 2]]], attrs)).toMatch(/codes \[4, 2\] and scales \[3, 2\] hold different column counts/);
    expect(typeErrorOf('dequantize', [codes, scales, ['f32', [4, 1]]], { ...attrs, zeroPoints: true })).toMatch(/zero points must be f32 shaped like the scales \[4, 2\], got f32 \[4, 1\]/);
    expect(typeErrorOf('dequantize', [codes, scales, ['i32', [4, 2]]], { ...attrs, zeroPoints: true })).toMatch(/zero points must be f32 shaped like the scales \[4, 2\], got i32 \[4, 2\]/);
  });

  it("refuses a word or group count that does not fit K, and zero points that the zeroPoints attribute doesn't match", () => {
    expect(typeErrorOf('dequantize', [['i32', [4, 3]], scales], attrs)).toMatch(/K = 6 at 8 bits needs 2 code words per column, got codes \[4, 3\]/);
    expect(typeErrorOf('dequantize', [codes, scales], { ...attrs, bits: 4 })).toMatch(/K = 6 at 4 bits needs 1 code words per column, got codes \[4, 2\]/);
    expect(typeErrorOf('dequantize', [codes, scales], { ...attrs, group: 6 })).toMatch(/K = 6 in groups of 6 needs 1 scales per column, got scales \[4, 2\]/);
    expect(typeErrorOf('dequantize', [codes, scales], { ...attrs, zeroPoints: true })).toMatch(/zeroPoints: true needs a third input/);
    expect(typeErrorOf('dequantize', [codes, scales, scales], attrs)).toMatch(/a third input \(zero points\) needs zeroPoints: true/);
  });

  it('evaluates to dequantizeMatrix, plain and transposed, in every store', () => {
    const m: Matrix = { k: 11, n: 3, w: Array.from(noise([11, 3], 7).data) };
    for (const q of [store(Q8, { group: 4 }), store(Q4, { group: 'channel' }), store(Q4, { group: 5, zeroPoints: true, scales: 'f16' }), store(Q8, { group: 2, zeroPoints: true })]) {
      const stored = quantize(m, q);
      for (const transpose of [false, true]) {
        const got = runOp('dequantize', operands(stored), { ...attrsOf(stored), k: m.k, transpose });
        expect(got.shape).toEqual(transpose ? [3, 11] : [11, 3]);
        expectClose(got, dequantizeMatrix(stored, transpose), 0);
      }
    }
  });

  it('a code word outside [0, 2^24) is an InputError naming the op and the position; 2^24 - 1 is a word', () => {
    const scale = f32([2, 1], [1, 1]);
    for (const [data, word, position] of [
      [[0, 2 ** 24], 2 ** 24, 1],
      [[0, 0, -1, 0], -1, 2],
    ] as const) {
      const error = caught(() => runOp('dequantize', [i32([2, data.length / 2], data), scale], { bits: 8, group: 32, k: 3 * (data.length / 2) }));
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toContain(`dequantize: code word ${word} at position ${position} is outside [0, 2^24)`);
    }
    // 0xffffff: three codes of 255, each 127 steps above the zero point
    expect(Array.from(runOp('dequantize', [i32([2, 1], [0xffffff, 0]), scale], { bits: 8, group: 32, k: 3 }).data)).toEqual([127, -128, 127, -128, 127, -128]);
  });
});

/** a [..., k] @ W [k, n] in float64 loops, W = dequantizeMatrix(q), then `epilogue` per element. */
function quantizedProduct(a: NDArray, q: QuantizedMatrix, epilogue: (x: number, col: number) => number = (x) => x): number[] {
  const w = dequantizeMatrix(q);
  const rows = a.data.length / q.k;
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let col = 0; col < q.n; col++) {
      let sum = 0;
      for (let kk = 0; kk < q.k; kk++) sum += a.data[r * q.k + kk]! * w[kk * q.n + col]!;
      out.push(epilogue(sum, col));
    }
  }
  return out;
}

describe('quantized_matmul', () => {
  const codes = ['i32', [4, 2]] as const; // N = 4, K = 6 at 8 bits
  const scales = ['f32', [4, 1]] as const;
  const attrs = { bits: 8, group: 32 };

  it('is [..., M, N] with a static K, symbolic batch and rows kept', () => {
    expect(inferOp('quantized_matmul', [['f32', ['b', 't', 6]], codes, scales], attrs)).toEqual({ dtype: 'f32', shape: ['b', 't', 4] });
    expect(inferOp('quantized_matmul', [['f32', [2, 6]], codes, scales, scales], { ...attrs, zeroPoints: true }).shape).toEqual([2, 4]);
  });

  it("refuses a symbolic K, an a that is not f32 [..., M, K], and codes or scales that do not fit a's K", () => {
    expect(typeErrorOf('quantized_matmul', [['f32', ['t', 'k']], codes, scales], attrs)).toMatch(/^quantized_matmul: a's K must be a static size \(a weight's rows\), got k/);
    expect(typeErrorOf('quantized_matmul', [['i32', [2, 6]], codes, scales], attrs)).toMatch(/a must be f32 of rank >= 2, got i32 \[2, 6\]/);
    expect(typeErrorOf('quantized_matmul', [['f32', [6]], codes, scales], attrs)).toMatch(/a must be f32 of rank >= 2, got f32 \[6\]/);
    expect(typeErrorOf('quantized_matmul', [['f32', [2, 7]], codes, scales], attrs)).toMatch(/K = 7 at 8 bits needs 3 code words per column, got codes \[4, 2\]/);
    expect(typeErrorOf('quantized_matmul', [['f32', [2, 6]], codes, scales], { bits: 8, group: 2 })).toMatch(/K = 6 in groups of 2 needs 3 scales per column, got scales \[4, 1\]/);
    expect(typeErrorOf('quantized_matmul', [['f32', [2, 6]], ['f32', [4, 2]], scales], attrs)).toMatch(/codes must be i32 \[N, words\], got f32 \[4, 2\]/);
    expect(typeErrorOf('quantized_matmul', [['f32', [2, 6]], codes, ['f32', [5, 1]]], attrs)).toMatch(/codes \[4, 2\] and scales \[5, 1\] hold different column counts/);
  });

  it('refuses zero points that the zeroPoints attribute and the inputs disagree on, and epilogue inputs that do not broadcast', () => {
    expect(typeErrorOf('quantized_matmul', [['f32', [2, 6]], codes, scales], { ...attrs, zeroPoints: true })).toMatch(/zeroPoints: true needs a fourth input/);
    expect(typeErrorOf('quantized_matmul', [['f32', [2, 6]], codes, scales, ['i32', [4, 1]]], { ...attrs, zeroPoints: true })).toMatch(/zero points must be f32 shaped like the scales \[4, 1\], got i32 \[4, 1\]/);
    // without the attribute a fourth input is the epilogue's: zero points [N, groups] do not broadcast to [M, N]
    expect(typeErrorOf('quantized_matmul', [['f32', [2, 6]], codes, scales, scales], attrs)).toMatch(/epilogue input \[4, 1\] must broadcast to the product \[2, 4\]/);
  });

  it('evaluates to a float64 loop over dequantizeMatrix, with an epilogue, batch axes and zero points', () => {
    const bias = noise([5], 3);
    const addBiasRelu: Expr = { op: 'relu', args: [{ op: 'add', args: [{ in: 0 }, { in: 1 }] }] };
    const cases = [
      { k: 20, n: 5, a: [2, 3, 20], q: store(Q8, { group: 8 }) }, // K = 20: neither whole groups nor whole words
      { k: 13, n: 5, a: [3, 13], q: store(Q4, { group: 'channel', zeroPoints: true }) },
      { k: 7, n: 5, a: [1, 7], q: store(Q4, { group: 3, scales: 'f16' }) },
    ];
    for (const [i, c] of cases.entries()) {
      const stored = quantize({ k: c.k, n: c.n, w: Array.from(noise([c.k, c.n], 10 + i).data) }, c.q);
      const a = noise(c.a, 20 + i);
      const plain = runOp('quantized_matmul', [a, ...operands(stored)], attrsOf(stored));
      expect(plain.shape).toEqual([...c.a.slice(0, -1), c.n]);
      expectClose(plain, quantizedProduct(a, stored), 1e-12);
      const fused = runOp('quantized_matmul', [a, ...operands(stored), bias], { ...attrsOf(stored), epilogue: addBiasRelu });
      expectClose(fused, quantizedProduct(a, stored, (x, col) => Math.max(0, x + bias.data[col]!)), 1e-12);
    }
  });

  it('a code word outside [0, 2^24) is an InputError from the dequantize it expands to, naming the position and the node', () => {
    const b = new GraphBuilder();
    const [x, codes, scales] = [b.input('x', 'f32', [2, 6]), b.input('codes', 'i32', [4, 2]), b.input('scales', 'f32', [4, 1])];
    const graph = b.build({ y: b.add('quantized_matmul', [x, codes, scales], { bits: 8, group: 32 }) });
    const feeds = { x: noise([2, 6], 1), codes: i32([4, 2], [1, 2, 3, 2 ** 24, 5, 6, 7, 8]), scales: f32([4, 1], [1, 1, 1, 1]) };
    const error = caught(() => interpret(graph, feeds, new Map()));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toMatch(/^dequantize: code word 16777216 at position 3 is outside \[0, 2\^24\) .*\(node %\d+ dequantize at .*weight-quantization\.test\.ts:\d+/);
  });
});

describe('quantize_activations (int8 activations)', () => {
  it('rounds each group of a row against its own scale max|x| / 127, half to even, a group of zeros to zeros', () => {
    // row 0: groups [127, 2.5, 3.5, -0.5] (scale 1) and [0, 0, 0, 0]; row 1: [254, 1, 3, -3] (scale 2) and [1, 0, 0, 0.5]
    const x = f32([2, 8], [127, 2.5, 3.5, -0.5, 0, 0, 0, 0, 254, 1, 3, -3, 1, 0, 0, 0.5]);
    const y = Array.from(runOp('quantize_activations', [x], { group: 4 }).data, (v) => v + 0);
    const s = Math.fround(1 / 127);
    expect(y.slice(0, 8)).toEqual([127, 2, 4, 0, 0, 0, 0, 0]);
    // 1 / 2 = 0.5 -> 0 and 3 / 2 = 1.5 -> 2 (to even); the last group's 0.5 / s = 63.5 -> 64
    expect(y.slice(8, 12)).toEqual([254, 0, 4, -4]);
    expect(y.slice(12)).toEqual([s * 127, 0, 0, s * Math.round(Math.fround(0.5 / s))].map((v) => v + 0));
  });

  it('matches activationScale / activationCode, groups not dividing the row, and keeps the shape', () => {
    const x = noise([3, 10], 4);
    const y = runOp('quantize_activations', [x], { group: 4 });
    expect(y.shape).toEqual([3, 10]);
    for (let row = 0; row < 3; row++) {
      for (const [g0, g1] of [[0, 4], [4, 8], [8, 10]] as const) {
        const group = Array.from(x.data.subarray(row * 10 + g0, row * 10 + g1));
        const s = activationScale(Math.max(...group.map(Math.abs)));
        group.forEach((v, i) => expect(y.data[row * 10 + g0 + i]).toBe(s * activationCode(v, s)));
      }
    }
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(-3.5)).toBe(-4);
    expect(roundHalfEven(0.49999997)).toBe(0);
  });

  it('quantized_matmul with int8 activations is the product of the rounded rows', () => {
    const stored = quantize({ k: 12, n: 3, w: Array.from(noise([12, 3], 2).data) }, store(Q8, { group: 4 }));
    const a = noise([2, 12], 3);
    const rounded = runOp('quantize_activations', [a], { group: 4 });
    const got = runOp('quantized_matmul', [a, ...operands(stored)], { ...attrsOf(stored), activations: 'int8' });
    expectClose(got, quantizedProduct(rounded, stored), 1e-12);
    const types = [a, ...operands(stored)].map((t) => [t.dtype, t.shape] as const);
    expect(() => inferOp('quantized_matmul', types, { ...attrsOf(stored), activations: 'int4' })).toThrow(/activations/);
  });
});

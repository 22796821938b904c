/** Symbolic dimensions: canonical products, arithmetic, broadcasting and run-time resolution. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { broadcastShapes, canonicalDim, divideDims, GraphTypeError, InputError, isValidDim, multiplyDims, normalizeAxis, resolveDim, type Dim } from '../src/index.ts';

describe('symbolic dimensions', () => {
  it('canonical form sorts symbols and puts the factor first', () => {
    expect(canonicalDim('seq*batch')).toBe('batch*seq');
    expect(canonicalDim('1*seq')).toBe('seq');
    expect(canonicalDim('seq*4*2')).toBe('8*seq');
    expect(canonicalDim(' batch * 3 ')).toBe('3*batch');
    expect(canonicalDim('2*3')).toBe(6);
    expect(canonicalDim(5)).toBe(5);
    expect(() => canonicalDim('seq+1')).toThrow(GraphTypeError);
  });

  it('valid dims are non-negative integers or products of integers and identifiers', () => {
    for (const d of [0, 7, 'batch', 'batch*seq', '4*seq', '_x1']) expect(isValidDim(d), String(d)).toBe(true);
    for (const d of [-1, 1.5, 'seq-1', '', '1x', 'a**b', null]) expect(isValidDim(d), String(d)).toBe(false);
  });

  it('multiply and divide', () => {
    expect(multiplyDims(['batch', 'seq', 64])).toBe('64*batch*seq');
    expect(multiplyDims([2, 3])).toBe(6);
    expect(multiplyDims([])).toBe(1);
    expect(multiplyDims(['seq', 0])).toBe(0);
    expect(multiplyDims(['seq', 'seq'])).toBe('seq*seq');
    expect(divideDims('64*batch*seq', 'batch*16')).toBe('4*seq');
    expect(divideDims('seq*seq', 'seq')).toBe('seq');
    expect(divideDims('batch', 'seq')).toBeUndefined();
    expect(divideDims(6, 4)).toBeUndefined();
    expect(divideDims('seq', 0)).toBeUndefined();
  });

  it('dividing a product by one of its factors gives the others back (property)', () => {
    const dim = fc.oneof(fc.integer({ min: 1, max: 6 }), fc.constantFrom('batch', 'seq', 'heads'));
    fc.assert(
      fc.property(fc.array(dim, { maxLength: 4 }), fc.array(dim, { maxLength: 4 }), (a, b) => {
        expect(divideDims(multiplyDims([...a, ...b]), multiplyDims(b))).toEqual(multiplyDims(a));
      }),
    );
  });

  it('broadcasting: 1 stretches, equal products match, others fail', () => {
    expect(broadcastShapes(['batch', 1, 64], ['seq', 1])).toEqual(['batch', 'seq', 64]);
    expect(broadcastShapes(['seq*batch'], ['batch*seq'])).toEqual(['batch*seq']);
    expect(broadcastShapes([], [2, 3])).toEqual([2, 3]);
    expect(broadcastShapes(['batch'], ['seq'])).toBeUndefined();
    expect(broadcastShapes([2], [3])).toBeUndefined();
  });

  it('resolution with bindings', () => {
    const bindings = new Map([
      ['batch', 2],
      ['seq', 5],
    ]);
    expect(resolveDim('4*batch*seq', bindings)).toBe(40);
    expect(resolveDim(7, bindings)).toBe(7);
    expect(() => resolveDim('heads', bindings)).toThrow(InputError);
    expect(() => resolveDim('heads', bindings)).toThrow("symbolic dimension 'heads' has no value");
  });

  it('axes normalize Python-style', () => {
    const cases: [number, number, number | undefined][] = [
      [-1, 3, 2],
      [0, 3, 0],
      [-3, 3, 0],
      [3, 3, undefined],
      [-4, 3, undefined],
      [0, 0, undefined],
    ];
    for (const [axis, rank, want] of cases) expect(normalizeAxis(axis, rank)).toBe(want);
  });

  it('canonical form is idempotent and order-independent (property)', () => {
    const parts = fc.array(fc.oneof(fc.integer({ min: 1, max: 9 }).map(String), fc.constantFrom('a', 'b', 'seq')), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(parts, (p) => {
        const d: Dim = p.join('*');
        expect(canonicalDim(canonicalDim(d))).toEqual(canonicalDim(d));
        expect(canonicalDim([...p].reverse().join('*'))).toEqual(canonicalDim(d));
      }),
    );
  });
});

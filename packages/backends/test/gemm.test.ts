import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileWat, wasmModuleSource } from '../../../scripts/build-wasm.ts';
import { gemm } from '../src/cpu/kernels/gemm.ts';
import { gemmWasm } from '../src/cpu/kernels/gemm-wasm.ts';
import { gemvWasm } from '../src/cpu/kernels/gemv-wasm.ts';
import { markResident } from '../src/cpu/kernels/resident-weights.ts';

function naive(a: Float32Array, b: Float32Array, m: number, n: number, k: number, transposeB: boolean): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += a[i * k + p]! * (transposeB ? b[j * k + p]! : b[p * n + j]!);
    c[i * n + j] = s;
  }
  return c;
}

describe('GEMM kernels', () => {
  // sizes cross every blocking edge: rows % 4, columns % 8, depth > 256 (two k blocks), rows > 128 (two m blocks)
  it.each([
    [1, 1, 1],
    [3, 9, 5],
    [7, 17, 300],
    [130, 13, 33],
    [4, 8, 256],
  ])('m=%i n=%i k=%i matches a float64 product, plain and transposed, JS and WebAssembly', (m, n, k) => {
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.37));
    const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.11));
    for (const transposeB of [false, true]) {
      const want = naive(a, b, m, n, k, transposeB);
      // a weight's packed panels are kept after the first product: run it twice
      const weight = b.slice();
      markResident(weight);
      const runs: [typeof gemm, Float32Array][] = [[gemm, b], [gemmWasm, b], [gemmWasm, weight], [gemmWasm, weight]];
      for (const [kernel, bArg] of runs) {
        const c = new Float32Array(m * n + 3).fill(7); // guard elements past the end must survive
        kernel({ a, aOffset: 0, b: bArg, bOffset: 0, c, cOffset: 0, m, n, k, transposeB });
        let err = 0;
        for (let i = 0; i < m * n; i++) err = Math.max(err, Math.abs(c[i]! - want[i]!));
        expect(err).toBeLessThan(1e-4 * Math.sqrt(k));
        expect(Array.from(c.subarray(m * n))).toEqual([7, 7, 7]);
      }
    }
  });

  it.each([
    [16, 16],
    [64, 48],
    [768, 2304],
  ])('one-row SIMD products from resident weights, k=%i n=%i, plain and transposed', (k, n) => {
    const a = Float32Array.from({ length: 3 * k }, (_, i) => Math.sin(i * 0.21));
    for (const transposeB of [false, true]) {
      const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.07));
      const want = naive(a.subarray(k, 2 * k), b, 1, n, k, transposeB);
      const c = new Float32Array(n + 2).fill(7);
      expect(gemvWasm({ a, aOffset: 0, b, bOffset: 0, c, cOffset: 0, m: 3, n, k, transposeB }, 1)).toBe(false); // not marked
      markResident(b);
      for (let repeat = 0; repeat < 2; repeat++) {
        // the second call reads the weight already resident
        expect(gemvWasm({ a, aOffset: 0, b, bOffset: 0, c, cOffset: -n, m: 3, n, k, transposeB }, 1)).toBe(true);
        let err = 0;
        for (let j = 0; j < n; j++) err = Math.max(err, Math.abs(c[j]! - want[j]!));
        expect(err).toBeLessThan(1e-4 * Math.sqrt(k));
        expect(Array.from(c.subarray(n))).toEqual([7, 7]);
      }
    }
  });

  it('one-row products fall back when sizes do not fit the SIMD kernels', () => {
    const b = new Float32Array(10 * 3);
    markResident(b);
    expect(gemvWasm({ a: new Float32Array(10), aOffset: 0, b, bOffset: 0, c: new Float32Array(3), cOffset: 0, m: 1, n: 3, k: 10, transposeB: false }, 0)).toBe(false);
  });

  it.each(['gemm', 'gemv'])('the committed WebAssembly module is the compiled %s.wat', async (name) => {
    const dir = new URL('../src/cpu/wasm/', import.meta.url);
    const binary = await compileWat(readFileSync(new URL(`${name}.wat`, dir), 'utf8'), `${name}.wat`);
    expect(readFileSync(new URL(`${name}-wasm.ts`, dir), 'utf8')).toBe(wasmModuleSource(`${name}.wat`, binary));
  });
});

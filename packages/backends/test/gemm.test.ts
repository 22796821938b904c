import { readFileSync } from 'node:fs';
import { gelu, geluTanh } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { wasmModuleSource, withoutRelaxedSimd } from '../../../scripts/build-wasm.ts';
import { gemm } from '../src/cpu/kernels/gemm.ts';
import { applyEpilogue, batchedMatmul } from '../src/cpu/kernels/matmul.ts';
import { markResident } from '../src/cpu/kernels/resident-weights.ts';
import { WasmRuntime, type CpuKernelOptions } from '../src/cpu/wasm-runtime/runtime.ts';

function naive(a: Float32Array, b: Float32Array, m: number, n: number, k: number, transposeB: boolean): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += a[i * k + p]! * (transposeB ? b[j * k + p]! : b[p * n + j]!);
    c[i * n + j] = s;
  }
  return c;
}

const rt = WasmRuntime.get();
const SETTINGS: CpuKernelOptions[] = [
  { threads: 1, simd: 'plain' },
  { threads: 2, simd: 'plain' },
  { threads: 1, simd: 'relaxed' },
  { threads: 2, simd: 'relaxed' },
];

describe('matmul kernels', () => {
  // sizes cross every blocking edge: rows % 4, columns % 8, depth > 256 (the GEMM's k blocks: two, three, five), rows > 128 (two m blocks), one row
  it.each([
    [1, 1, 1],
    [3, 9, 5],
    [7, 17, 300],
    [7, 17, 600],
    [6, 19, 1030],
    [130, 13, 33],
    [4, 8, 256],
    [1, 37, 300],
    [1, 64, 513],
    [33, 70, 64],
  ])('m=%i n=%i k=%i matches a float64 product: JS, WebAssembly plain and relaxed, 1 and 2 threads, weights kept or not', async (m, n, k) => {
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.37));
    const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.11));
    for (const transposeB of [false, true]) {
      const want = naive(a, b, m, n, k, transposeB);
      const check = (c: Float32Array) => {
        let err = 0;
        for (let i = 0; i < m * n; i++) err = Math.max(err, Math.abs(c[i]! - want[i]!));
        expect(err).toBeLessThan(1e-4 * Math.sqrt(k));
        expect(Array.from(c.subarray(m * n))).toEqual([7, 7, 7]); // guard elements past the end survive
      };
      const js = new Float32Array(m * n + 3).fill(7);
      gemm({ a, aOffset: 0, b, bOffset: 0, c: js, cOffset: 0, m, n, k, transposeB });
      check(js);
      for (const options of SETTINGS) {
        const settings = await rt.settle(options);
        // a weight's packed panels are kept after the first product: run it twice
        const weight = b.slice();
        markResident(weight);
        for (const bArg of [b, weight, weight]) {
          const c = new Float32Array(m * n + 3).fill(7);
          batchedMatmul({ rt, settings }, a, bArg, c.subarray(0, m * n), [m, k], transposeB ? [n, k] : [k, n], [m, n], transposeB);
          check(c);
        }
      }
    }
  });

  it('one-row products on the bfloat16 weight store stay within the rounding of the weights', async () => {
    const [k, n] = [768, 301];
    const x = Float32Array.from({ length: k }, (_, i) => Math.sin(i * 0.21));
    const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.07));
    markResident(b);
    const want = naive(x, b, 1, n, k, false);
    // |error| <= sum_k |x_k| |b_k| 2^-8 (each weight rounded to 8 significant bits) plus float32 accumulation
    const bound = Array.from({ length: n }, (_, j) => {
      let s = 0;
      for (let p = 0; p < k; p++) s += Math.abs(x[p]! * b[p * n + j]!);
      return s * 2 ** -8 + 1e-4;
    });
    const settings = await rt.settle({ threads: 2, weightStore: 'bf16' });
    const c = new Float32Array(n);
    batchedMatmul({ rt, settings }, x, b, c, [1, k], [k, n], [1, n], false);
    let worst = 0;
    for (let j = 0; j < n; j++) {
      expect(Math.abs(c[j]! - want[j]!)).toBeLessThanOrEqual(bound[j]!);
      worst = Math.max(worst, Math.abs(c[j]! - want[j]!));
    }
    expect(worst).toBeGreaterThan(1e-5); // the bf16 panels really were read (float32 would be ~1e-6)
  });

  it.each([
    ['gelu_tanh', 1, geluTanh],
    ['relu', 2, (x: number) => Math.max(x, 0)],
    ['gelu (erf)', 3, gelu],
  ] as const)('the epilogue kernel: %s(c + bias) + residual within float32 rounding, over -30..30 and the tails', async (_, act, f) => {
    const [m, n] = [3, 1001]; // columns not a multiple of 4: the one-lane tail
    const product = Float32Array.from({ length: m * n }, (_, i) => -30 + (60 * i) / (m * n));
    const bias = Float32Array.from({ length: n }, (_, j) => Math.sin(j) * 0.01);
    const residual = Float32Array.from({ length: m * n }, (_, i) => Math.cos(i) * 0.5);
    for (const simd of ['plain', 'relaxed'] as const) {
      const settings = await rt.settle({ simd, threads: 2, parallelFrom: 0, pauseWhenContended: false });
      const outAt = rt.heap.alloc(m * n * 4);
      const resAt = rt.heap.alloc(m * n * 4);
      const out = rt.heap.f32(outAt, m * n);
      out.set(product);
      rt.heap.f32(resAt, m * n).set(residual);
      // bias outside the heap (a weight): copied in by the kernel's caller
      expect(applyEpilogue({ rt, settings }, { bias, residual: rt.heap.f32(resAt, m * n), act }, out, m, n)).toBe(true);
      let worst = 0;
      for (let i = 0; i < m * n; i++) {
        const want = f(product[i]! + bias[i % n]!) + residual[i]!;
        worst = Math.max(worst, Math.abs(out[i]! - want) / Math.max(1, Math.abs(want)));
      }
      expect(worst).toBeLessThan(1e-6);
      rt.heap.release(outAt);
      rt.heap.release(resAt);
    }
  });

  it('the plain build spells each relaxed multiply-add as a multiply and an add', () => {
    expect(withoutRelaxedSimd('(f32x4.relaxed_madd (local.get $a) (f32x4.relaxed_madd (local.get $b) (local.get $c) (local.get $d)) (local.get $e)) ;; (f32x4.relaxed_madd x)')).toBe(
      '(f32x4.add (local.get $e) (f32x4.mul (local.get $a) (f32x4.add (local.get $d) (f32x4.mul (local.get $b) (local.get $c))))) ',
    );
  });

  it('the committed WebAssembly modules are the compiled kernels.wat', async () => {
    const dir = new URL('../src/cpu/wasm/', import.meta.url);
    const source = readFileSync(new URL('kernels.wat', dir), 'utf8');
    expect(readFileSync(new URL('kernels-wasm.ts', dir), 'utf8')).toBe(await wasmModuleSource('kernels.wat', source));
  });
});

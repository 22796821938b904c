/**
 * Which layout a quantized product reads its weight in (productLayout), from the settled kernel
 * settings: integer layouts only for int8 activations in groups of whole quads; 8-bit codes whole
 * (bytes) where the dot reads bytes unsigned, as two planes of nibbles where asked or where the dot
 * reads them signed, and otherwise the pairs layout; one layout for one row and for more.
 */
import { describe, expect, it } from 'vitest';
import { productLayout } from '../src/cpu/wasm-runtime/quantized-panels.ts';
import { WasmRuntime } from '../src/cpu/wasm-runtime/runtime.ts';

const settings = (quadsLayout: boolean, bytesLayout: boolean, planesLayout: boolean) => ({ quadsLayout, bytesLayout, planesLayout });

describe('productLayout', () => {
  it('float activations, and groups that are not whole quads, read rows', () => {
    expect(productLayout(8, 32, false, settings(true, true, false))).toBe('rows');
    expect(productLayout(4, 30, true, settings(true, false, true))).toBe('rows');
  });

  it('4-bit codes read quads wherever the dot is exact, pairs without it', () => {
    for (const planes of [false, true]) expect(productLayout(4, 32, true, settings(true, false, planes))).toBe('quads');
    expect(productLayout(4, 32, true, settings(false, false, false))).toBe('pairs');
  });

  it('8-bit codes: bytes, else two planes where they are the fast way, else pairs (x86 without AVX-VNNI)', () => {
    expect(productLayout(8, 32, true, settings(true, true, false))).toBe('bytes');
    expect(productLayout(8, 32, true, settings(true, false, true))).toBe('quads');
    expect(productLayout(8, 32, true, settings(true, false, false))).toBe('pairs');
  });

  it('settled settings: forcing the quads layout or bytesLayout false takes the planes, bytesLayout true the bytes', async () => {
    const rt = WasmRuntime.get();
    const forced = await rt.settle({ simd: 'plain', quadsLayout: true, threads: 1 });
    expect([forced.quadsLayout, forced.bytesLayout, forced.planesLayout]).toEqual([true, false, true]);
    const noBytes = await rt.settle({ simd: 'plain', quadsLayout: true, bytesLayout: false, threads: 1 });
    expect(noBytes.planesLayout).toBe(true);
    const bytes = await rt.settle({ simd: 'plain', quadsLayout: true, bytesLayout: true, threads: 1 });
    expect([bytes.bytesLayout, bytes.planesLayout]).toEqual([true, false]);
    const plain = await rt.settle({ simd: 'plain', threads: 1 });
    expect([plain.quadsLayout, plain.bytesLayout, plain.planesLayout]).toEqual([false, false, false]);
    const auto = await rt.settle({ threads: 1 });
    console.log(`this engine, simd auto: quads ${auto.quadsLayout}, bytes ${auto.bytesLayout}, planes ${auto.planesLayout}`);
  });
});

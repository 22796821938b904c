import fc from 'fast-check';
import { describe, it } from 'vitest';
import { cpuBackend, type Backend, type CpuOptions } from '../src/index.ts';
import { conformanceProperty } from './conformance.ts';
import { conformanceSuite } from './suites/conformance-suite.ts';

/** The cpu backend with fixed kernel settings. */
const cpuWith = (fixed: CpuOptions): Backend => ({ name: 'cpu', prepare: (graph, weights, options) => cpuBackend.prepare(graph, weights, { ...options, cpu: { ...options?.cpu, ...fixed } }) });

// Random graphs have small shapes: smallProduct 0 and parallelFrom 0 send every product to the
// WebAssembly kernels and split it across the threads, as GPT-2's large products are.
const EVERY_PRODUCT_ON_THE_KERNELS = { smallProduct: 0, parallelFrom: 0, pauseWhenContended: false };

await conformanceSuite('cpu');

// the cpu backend's own settings: every product on the kernels, SIMD flavours, thread counts, poison mode
describe('cpu backend conformance under its kernel settings', () => {
  it.each([
    ['relaxed SIMD (FMA), 2 threads', { simd: 'relaxed', threads: 2 }],
    ['plain SIMD, 1 thread', { simd: 'plain', threads: 1 }],
    ['plain SIMD, 2 threads', { simd: 'plain', threads: 2 }],
  ] as const)('the same with every product on the WebAssembly kernels: %s (property)', async (_, settings) => {
    await fc.assert(conformanceProperty(cpuWith({ ...settings, ...EVERY_PRODUCT_ON_THE_KERNELS }), 12), { numRuns: 150, seed: 20261126 });
  });

  it('the same in poison mode: no value is read after its buffer is released, no kernel writes past a buffer (property)', async () => {
    await fc.assert(conformanceProperty(cpuWith({ poison: true, ...EVERY_PRODUCT_ON_THE_KERNELS }), 12, { rerun: true }), { numRuns: 150, seed: 20261126 });
  });
});

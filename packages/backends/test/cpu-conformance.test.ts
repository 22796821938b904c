import fc from 'fast-check';
import { describe, it } from 'vitest';
import { cpuBackend, type Backend } from '../src/index.ts';
import { conformanceProperty } from './conformance.ts';

/** The cpu backend in poison mode (cpu/poison.ts): dead values become NaN, buffers get guard zones. */
const poisonedCpu: Backend = { name: 'cpu', prepare: (graph, weights, options) => cpuBackend.prepare(graph, weights, { ...options, poison: true }) };

describe('cpu backend conformance', () => {
  it('compiled plans on random graphs equal the float64 interpreter (property)', async () => {
    await fc.assert(conformanceProperty(cpuBackend, 12), { numRuns: 150, seed: 20261126 });
  });

  it('the same in poison mode: no value is read after its buffer is released, no kernel writes past a buffer (property)', async () => {
    await fc.assert(conformanceProperty(poisonedCpu, 12), { numRuns: 150, seed: 20261126 });
  });
});

import fc from 'fast-check';
import { describe, it } from 'vitest';
import { cpuBackend } from '../src/index.ts';
import { conformanceProperty } from './conformance.ts';

describe('cpu backend conformance', () => {
  it('compiled plans on random graphs equal the float64 interpreter (property)', async () => {
    await fc.assert(conformanceProperty(cpuBackend, 12), { numRuns: 150, seed: 20261126 });
  });
});

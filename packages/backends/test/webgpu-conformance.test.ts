import fc from 'fast-check';
import { describe, it } from 'vitest';
import { conformanceProperty } from './conformance.ts';
import { requireBackend } from './require-backend.ts';

const { backend: gpu } = await requireBackend('webgpu');

// the same property as the cpu backend's; fewer, smaller graphs: SwiftShader compiles every pipeline on the CPU
describe.skipIf(!gpu)('webgpu backend conformance', () => {
  it('compiled plans on random graphs equal the float64 interpreter (property)', async () => {
    await fc.assert(conformanceProperty(gpu!, 10), { numRuns: 60, seed: 20261126 });
  }, 300_000);
});

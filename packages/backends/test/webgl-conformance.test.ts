import fc from 'fast-check';
import { describe, it } from 'vitest';
import { conformanceProperty } from './conformance.ts';
import { requireBackend } from './require-backend.ts';

const { backend: gl } = await requireBackend('webgl');

// the same property as the cpu's and webgpu's, on headless-gl (software GL under Xvfb here)
describe.skipIf(!gl)('webgl backend conformance', () => {
  it('compiled plans on random graphs equal the float64 interpreter (property)', async () => {
    await fc.assert(conformanceProperty(gl!, 10), { numRuns: 100, seed: 20261202 });
  }, 600_000);
});

/**
 * The conformance property on one backend (conformance.ts): random graphs, compiled and run, equal
 * the float64 interpreter within the per-op float32 budget, and so does a second run of the same
 * prepared model on other values (what a run keeps for the next must not change the answer). The
 * same property on every backend; only how many graphs, and how large, differ, for the reasons below.
 * The backward property does the same for the gradient graphs (grad()) of the same random graphs.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import type { BackendName } from '../../src/index.ts';
import { backwardConformanceProperty, conformanceProperty } from '../conformance.ts';
import { runsOn } from './exclusions.ts';
import { suiteBackend } from './suite-backend.ts';

interface Settings {
  readonly maxRecipes: number;
  readonly numRuns: number;
  readonly seed: number;
  readonly timeout: number;
  /** The backward property: gradient graphs are about three times the forward graph's size. */
  readonly backward: { readonly maxRecipes: number; readonly numRuns: number; readonly timeout: number };
}

const SETTINGS: Readonly<Record<'cpu' | 'webgpu' | 'webgl', Settings>> = {
  cpu: { maxRecipes: 12, numRuns: 150, seed: 20261126, timeout: 60_000, backward: { maxRecipes: 12, numRuns: 150, timeout: 120_000 } },
  // fewer, smaller graphs: SwiftShader compiles every pipeline on the CPU
  webgpu: { maxRecipes: 10, numRuns: 60, seed: 20261126, timeout: 300_000, backward: { maxRecipes: 8, numRuns: 40, timeout: 300_000 } },
  // software GL under Xvfb compiles a shader per pass and shape
  webgl: { maxRecipes: 10, numRuns: 100, seed: 20261202, timeout: 600_000, backward: { maxRecipes: 8, numRuns: 50, timeout: 300_000 } },
};

export async function conformanceSuite(name: 'cpu' | 'webgpu' | 'webgl'): Promise<void> {
  if (!runsOn('conformance', name)) return;
  const backend = await suiteBackend(name as BackendName);
  const s = SETTINGS[name];
  describe.skipIf(!backend)(`${name} backend conformance`, () => {
    it('compiled plans on random graphs equal the float64 interpreter, and so does a second run on other values (property)', async () => {
      await fc.assert(conformanceProperty(backend!, s.maxRecipes, { rerun: true }), { numRuns: s.numRuns, seed: s.seed });
    }, s.timeout);

    it('the compiled gradient graphs of random graphs equal the interpreter running them, and so does a second run (property)', async () => {
      await fc.assert(backwardConformanceProperty(backend!, s.backward.maxRecipes, { rerun: true }), { numRuns: s.backward.numRuns, seed: s.seed });
    }, s.backward.timeout);
  });
}

/**
 * The suites are written once and run on every backend; what a backend does not run is listed here,
 * with the reason, and nowhere else. A suite asks `runsOn(suite, backend)` before it registers its
 * tests for a backend, so an excluded case is absent rather than skipped.
 */
import type { BackendName } from '../../src/index.ts';

export type SuiteName = 'conformance' | 'models' | 'device runtime' | 'browser' | 'training ops' | 'routing ops' | 'attention extras' | 'quantized weights';

interface Exclusion {
  readonly suite: SuiteName;
  readonly backend: BackendName;
  /** A test of the suite, by name; absent: the whole suite. */
  readonly test?: string;
  readonly reason: string;
}

export const EXCLUSIONS: readonly Exclusion[] = [
  { suite: 'device runtime', backend: 'cpu', reason: 'no device: the cpu program keeps its buffers in one WebAssembly heap, tested by cpu-*.test.ts (arenas, poison mode, invariant steps, memory budget)' },
  { suite: 'device runtime', backend: 'reference', reason: 'the interpreter holds nothing between runs' },
  { suite: 'browser', backend: 'cpu', reason: "a page's cpu backend runs on one thread of the main thread today; loom inspect's browser test runs it there" },
  { suite: 'browser', backend: 'reference', reason: 'the interpreter is plain JavaScript: nothing browser-specific to test' },
  { suite: 'conformance', backend: 'reference', reason: 'it is the oracle the property compares with' },
  { suite: 'attention extras', backend: 'reference', reason: 'its decomposition is the oracle the suite compares with' },
  { suite: 'routing ops', backend: 'reference', reason: 'its kernels are the oracle the suite compares with' },
  { suite: 'quantized weights', backend: 'reference', reason: 'its dequantize + matmul is the oracle the suite compares with' },
  { suite: 'training ops', backend: 'reference', reason: 'its kernels are the oracle the suite compares with' },
  { suite: 'models', backend: 'reference', reason: 'float64 PyTorch goldens are what the reference is checked against in packages/models/test' },
];

/** Whether `suite` (or its test `test`) runs on `backend`. */
export function runsOn(suite: SuiteName, backend: BackendName, test?: string): boolean {
  return !EXCLUSIONS.some((e) => e.suite === suite && e.backend === backend && (e.test === undefined || e.test === test));
}

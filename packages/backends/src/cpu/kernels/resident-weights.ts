/**
 * Which arrays are weights: their identity is stable across runs, so the WebAssembly kernels may keep
 * converted copies of them (packed GEMM panels, gemv rows) in their memories after the first use.
 * Activations change every run and are never cached.
 */
const weights = new WeakSet<Float32Array>();

export function markResident(weight: Float32Array): void {
  weights.add(weight);
}

export function isResident(array: Float32Array): boolean {
  return weights.has(array);
}

/** A weight that did not fit a kernel's memory (past 4 GiB): it stays in JavaScript from now on. */
export function unmarkResident(array: Float32Array): void {
  weights.delete(array);
}

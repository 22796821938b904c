/**
 * Which arrays are weights: their identity is stable across runs, so the WebAssembly kernels may keep
 * converted copies of them (packed panels, float32 and bfloat16: ../wasm-runtime/weight-panels.ts)
 * in the heap. Activations change every run and are never cached.
 *
 * Each prepared CPU model holds a lease; when the last lease is released, every cache ("arena")
 * frees its copies back to the heap, so a process that prepares and disposes models one after another
 * does not grow.
 */
let weights = new WeakSet<Float32Array | Int32Array>();
let leases = 0;
const arenas: { reset: () => void; bytesInUse: () => number }[] = [];

export function markResident(weight: Float32Array | Int32Array): void {
  weights.add(weight);
}

export function isResident(array: Float32Array | Int32Array): boolean {
  return weights.has(array);
}

/** Kernels register their arena: how to forget its cached copies, and how much it holds. */
export function registerArena(reset: () => void, bytesInUse: () => number): void {
  arenas.push({ reset, bytesInUse });
}

/** Bytes of cached weight copies across all arenas (for tests and memory reports). */
export function arenaBytesInUse(): number {
  return arenas.reduce((sum, a) => sum + a.bytesInUse(), 0);
}

/** Taken by a prepared model for its lifetime; the returned function releases it (once). */
export function leaseArenas(): () => void {
  leases++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--leases === 0) {
      weights = new WeakSet();
      for (const arena of arenas) arena.reset();
    }
  };
}

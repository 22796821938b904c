import type { WasmRuntime } from './runtime.ts';

/**
 * Byte addresses for a kernel call: arrays already in the heap are used in place; the others
 * (graph inputs, plain weights such as a layer norm's gamma) are copied into one scratch block,
 * followed by `extraBytes` of temporaries (at `extra`). Undefined arrays get address 0 ("absent").
 */
export function placeInHeap(rt: WasmRuntime, arrays: readonly (Float32Array | Int32Array | undefined)[], extraBytes = 0): { at: number[]; extra: number } {
  const copies: { array: Float32Array | Int32Array; offset: number }[] = [];
  let bytes = 0;
  const at = arrays.map((array) => {
    if (!array) return 0;
    const own = rt.heap.addressOf(array);
    if (own >= 0) return own;
    copies.push({ array, offset: bytes });
    bytes += Math.ceil((array.length * 4) / 64) * 64;
    return -copies.length;
  });
  const scratch = rt.scratch(bytes + extraBytes);
  for (const c of copies) new Float32Array(rt.heap.memory.buffer, scratch + c.offset, c.array.length).set(new Float32Array(c.array.buffer, c.array.byteOffset, c.array.length));
  return { at: at.map((a) => (a < 0 ? scratch + copies[-a - 1]!.offset : a)), extra: scratch + bytes };
}

/**
 * Runs `kernel` with the byte addresses of `inputs` (placed as placeInHeap places them) and of `out`:
 * its own where it lives in the heap, else a scratch block copied into `out` afterwards.
 */
export function runInHeap(rt: WasmRuntime, inputs: readonly (Float32Array | Int32Array | undefined)[], out: Float32Array | Int32Array, kernel: (at: number[], outAt: number) => void): void {
  const outOwn = rt.heap.addressOf(out);
  const { at, extra } = placeInHeap(rt, inputs, outOwn < 0 ? out.length * 4 : 0);
  const outAt = outOwn >= 0 ? outOwn : extra;
  kernel(at, outAt);
  if (outOwn < 0) out.set(out instanceof Int32Array ? new Int32Array(rt.heap.memory.buffer, outAt, out.length) : new Float32Array(rt.heap.memory.buffer, outAt, out.length));
}

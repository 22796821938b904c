import { isResident, registerArena, unmarkResident } from '../kernels/resident-weights.ts';
import { WasmHeapError } from './heap.ts';
import type { KernelSettings, WasmRuntime } from './runtime.ts';
import { CHUNK_END, CHUNK_START } from './thread-pool.ts';

/**
 * Weights packed into column panels (the layout of ../wasm/kernels.wat) once, kept in the heap, and
 * read in place by every later product: GEMM panels in float32, and for decoding with the bf16 store
 * the same panels in bfloat16. Keyed by the weight array (a weight's identity is stable across runs,
 * see resident-weights.ts) and its layout. Packing is split across threads by panels.
 */
type Kind = 'f32' | 'bf16';

const kept = new Map<Kind, [WeakMap<Float32Array, number>, WeakMap<Float32Array, number>]>();
let blocks: number[] = [];
let bytes = 0;
let owner: WasmRuntime | undefined;

function table(kind: Kind, transposeB: boolean): WeakMap<Float32Array, number> {
  if (!kept.has(kind)) kept.set(kind, [new WeakMap(), new WeakMap()]);
  return kept.get(kind)![transposeB ? 1 : 0];
}

registerArena(() => {
  for (const b of blocks) owner?.heap.release(b);
  blocks = [];
  bytes = 0;
  kept.clear();
}, () => bytes);

/**
 * Kept panels stop at 2.5 GiB of the 32-bit heap, so that a model whose weights fill it (GPT-2 XL:
 * 6.2 GB in float32, 3.1 GB in bfloat16) leaves 1.5 GiB to its activations, KV cache and the
 * per-product copies of the weights past the limit, which stay in JavaScript.
 */
const KEPT_PANELS_MAX = 2.5 * 2 ** 30;
let keptPanelsMax = KEPT_PANELS_MAX;

/** Sets the limit on kept panels (tests: a small one sends a small model's weights down the per-product path); no argument restores it. */
export function setKeptPanelsMax(max = KEPT_PANELS_MAX): void {
  keptPanelsMax = max;
}

/** Bytes of packed panels for B [k, n] (float32). */
export const panelBytes = (k: number, n: number): number => k * Math.ceil(n / 8) * 8 * 4;

/** Whether `b` is a whole weight whose panels may be kept. */
export function keepable(b: Float32Array, bOffset: number, k: number, n: number): boolean {
  return bOffset === 0 && b.length === k * n && isResident(b);
}

/**
 * Packs panels of B (at byte address `from` in the heap, [k, n] or [n, k] when transposed) into
 * `to`, split across the settings' threads.
 */
export function packInto(rt: WasmRuntime, s: KernelSettings, from: number, k: number, n: number, transposeB: boolean, to: number): void {
  const panels = Math.ceil(n / 8);
  rt.parallel(s, 'pack_panels', [from, k, n, transposeB ? 1 : 0, to, CHUNK_START, CHUNK_END], panels, k * 8 * 64 < 1 << 18 ? 1 : s.threads);
}

/** The byte address of B in the heap: its own if it lives there, else a copy at `scratch`. */
export function placed(rt: WasmRuntime, array: Float32Array | Int32Array, scratch: number): number {
  const at = rt.heap.addressOf(array);
  if (at >= 0) return at;
  new Float32Array(rt.heap.memory.buffer, scratch, array.length).set(array as Float32Array);
  return scratch;
}

/**
 * The kept panels of weight `b` in `kind`, packed now on first use. Returns their byte address, or
 * undefined when the heap (WebAssembly's 4 GiB) has no room for them, or kept panels would pass
 * their limit (KEPT_PANELS_MAX): the weight is then no longer kept (unmarked), and products copy and pack it per
 * call instead, slower but still in the kernels.
 */
export function weightPanels(rt: WasmRuntime, s: KernelSettings, b: Float32Array, k: number, n: number, transposeB: boolean, kind: Kind): number | undefined {
  const known = table(kind, transposeB).get(b);
  if (known !== undefined) return known;
  const size = panelBytes(k, n);
  try {
    if (bytes + (kind === 'f32' ? size : size / 2) <= keptPanelsMax) return packWeight(rt, s, b, k, n, transposeB, kind, size);
  } catch (e) {
    if (!(e instanceof WasmHeapError)) throw e;
  }
  unmarkResident(b);
  return undefined;
}

function packWeight(rt: WasmRuntime, s: KernelSettings, b: Float32Array, k: number, n: number, transposeB: boolean, kind: Kind, size: number): number {
  const map = table(kind, transposeB);
  owner = rt;
  if (kind === 'f32') {
    const to = rt.heap.alloc(size);
    packInto(rt, s, placed(rt, b, rt.scratch(b.length * 4)), k, n, transposeB, to);
    remember(map, b, to, size);
    return to;
  }
  // bfloat16 from the float32 panels (kept ones, or packed in scratch for the conversion only)
  const keptF32 = table('f32', transposeB).get(b);
  let f32 = keptF32;
  if (f32 === undefined) {
    const scratch = rt.scratch(size + b.length * 4);
    f32 = scratch;
    packInto(rt, s, placed(rt, b, scratch + size), k, n, transposeB, f32);
  }
  const to = rt.heap.alloc(size / 2);
  const count = size / 4;
  // in blocks of 8 floats: src and dst advance by 32 and 16 bytes a block, count is 8 a block
  rt.parallel(s, 'to_bf16', [{ base: f32, start: 32 }, { base: to, start: 16 }, { start: -8, end: 8 }], count / 8, s.threads, 4096);
  remember(map, b, to, size / 2);
  return to;
}

function remember(map: WeakMap<Float32Array, number>, b: Float32Array, at: number, size: number): void {
  map.set(b, at);
  blocks.push(at);
  bytes += size;
}

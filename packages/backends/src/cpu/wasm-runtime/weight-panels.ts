import { isResident, registerArena } from '../kernels/resident-weights.ts';
import { WasmHeapError } from './heap.ts';
import type { KernelSettings, WasmRuntime } from './runtime.ts';
import { CHUNK_END, CHUNK_START } from './thread-pool.ts';

/**
 * Weights packed into column panels (the layout of ../wasm/kernels.wat) once, kept in the heap, and
 * read in place by every later product: GEMM panels in float32, and for decoding with the bf16 store
 * the same panels in bfloat16. Keyed by the weight array (a weight's identity is stable across runs,
 * see resident-weights.ts) and its layout. Packing is split across threads by panels.
 *
 * Past the kept limit (a model larger than the 32-bit heap), decoding's bfloat16 panels are
 * **streamed**: packed once into JavaScript memory outside the heap and copied into scratch for each
 * product (a copy of half the float32 bytes, against a copy and a pack of all of them). Under the bf16
 * store, decoding's panels come first: the float32 panels that prefill keeps give way to them, since
 * decoding reads every weight once per token and prefill once per prompt.
 */
type Kind = 'f32' | 'bf16';

interface KeptBlock {
  readonly kind: Kind;
  readonly transposeB: boolean;
  readonly weight: WeakRef<Float32Array>;
  readonly at: number;
  readonly size: number;
}

const kept = new Map<Kind, [WeakMap<Float32Array, number>, WeakMap<Float32Array, number>]>();
/** Weights whose panels in a kind did not fit: not tried again (their products copy, or stream). */
const refused = new Map<Kind, [WeakSet<Float32Array>, WeakSet<Float32Array>]>();
const streamed: [WeakMap<Float32Array, Uint16Array>, WeakMap<Float32Array, Uint16Array>] = [new WeakMap(), new WeakMap()];
/** Weights whose streamed panels the heap had no room to pack: not tried again. */
let unstreamable: [WeakSet<Float32Array>, WeakSet<Float32Array>] = [new WeakSet(), new WeakSet()];
let blocks: KeptBlock[] = [];
let bytes = 0;
let streamedBytes = 0;
let owner: WasmRuntime | undefined;

function table(kind: Kind, transposeB: boolean): WeakMap<Float32Array, number> {
  if (!kept.has(kind)) kept.set(kind, [new WeakMap(), new WeakMap()]);
  return kept.get(kind)![transposeB ? 1 : 0];
}

function refusedIn(kind: Kind, transposeB: boolean): WeakSet<Float32Array> {
  if (!refused.has(kind)) refused.set(kind, [new WeakSet(), new WeakSet()]);
  return refused.get(kind)![transposeB ? 1 : 0];
}

registerArena(() => {
  for (const b of blocks) owner?.heap.release(b.at);
  blocks = [];
  bytes = 0;
  kept.clear();
  refused.clear();
  streamed[0] = new WeakMap();
  streamed[1] = new WeakMap();
  unstreamable = [new WeakSet(), new WeakSet()];
  streamedBytes = 0;
}, () => bytes);

/** Bytes of bfloat16 panels streamed from outside the heap (memory reports, tests). */
export function streamedPanelBytes(): number {
  return streamedBytes;
}

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
 * undefined when they do not fit: past their limit (KEPT_PANELS_MAX) or the heap's 4 GiB. Products
 * then copy and pack the weight per call (float32), or stream its bfloat16 panels (streamedPanels).
 * A bfloat16 request may evict float32 panels to fit (decoding first, see above).
 */
export function weightPanels(rt: WasmRuntime, s: KernelSettings, b: Float32Array, k: number, n: number, transposeB: boolean, kind: Kind): number | undefined {
  const known = table(kind, transposeB).get(b);
  if (known !== undefined) return known;
  if (refusedIn(kind, transposeB).has(b)) return undefined;
  const size = panelBytes(k, n);
  const need = kind === 'f32' ? size : size / 2;
  // the weight's own float32 panels are the conversion's source, evicted after it when that makes room
  const own = kind === 'bf16' ? blocks.find((x) => x.kind === 'f32' && x.transposeB === transposeB && x.weight.deref() === b) : undefined;
  if (kind === 'bf16' && bytes + need > keptPanelsMax) {
    // other weights' float32 panels give way, only when that (and the weight's own) makes room
    const others = blocks.reduce((sum, x) => sum + (x.kind === 'f32' && x !== own ? x.size : 0), 0);
    if (bytes + need - others - (own?.size ?? 0) <= keptPanelsMax) evictF32(bytes + need - (own?.size ?? 0) - keptPanelsMax, own);
  }
  try {
    if (bytes + need - (own?.size ?? 0) <= keptPanelsMax) {
      const at = packWeight(rt, s, b, k, n, transposeB, kind, size);
      if (bytes > keptPanelsMax && own) evict(own);
      return at;
    }
  } catch (e) {
    if (!(e instanceof WasmHeapError)) throw e;
  }
  refusedIn(kind, transposeB).add(b);
  return undefined;
}

/** Releases float32 panels, the most recent first, other than `spare`, until `over` bytes are freed. */
function evictF32(over: number, spare: KeptBlock | undefined): void {
  for (let i = blocks.length - 1; i >= 0 && over > 0; i--) {
    const block = blocks[i]!;
    if (block.kind !== 'f32' || block === spare) continue;
    evict(block);
    over -= block.size;
  }
}

function evict(block: KeptBlock): void {
  owner?.heap.release(block.at);
  blocks.splice(blocks.indexOf(block), 1);
  bytes -= block.size;
  const weight = block.weight.deref();
  if (!weight) return;
  table(block.kind, block.transposeB).delete(weight);
  refusedIn(block.kind, block.transposeB).add(weight);
}

/**
 * The bfloat16 panels of weight `b` outside the heap, packed on first use (at prepare), for decoding
 * with the bf16 store when they could not be kept; undefined when `b` is not a weight, or when the
 * heap has no room even for packing them (the product then copies and packs float32 per call).
 * The product copies them into scratch (copyPanels).
 */
export function streamedPanels(rt: WasmRuntime, s: KernelSettings, b: Float32Array, k: number, n: number, transposeB: boolean): Uint16Array | undefined {
  const map = streamed[transposeB ? 1 : 0];
  const known = map.get(b);
  if (known || !keepable(b, 0, k, n) || unstreamable[transposeB ? 1 : 0].has(b)) return known;
  const size = panelBytes(k, n);
  try {
    const { f32, scratch } = float32Panels(rt, s, b, k, n, transposeB, size / 2);
    toBf16(rt, s, f32, scratch, size / 4);
    const panels = new Uint16Array(size / 4);
    panels.set(new Uint16Array(rt.heap.memory.buffer, scratch, size / 4));
    map.set(b, panels);
    streamedBytes += panels.byteLength;
    return panels;
  } catch (e) {
    if (!(e instanceof WasmHeapError)) throw e;
    unstreamable[transposeB ? 1 : 0].add(b);
    return undefined;
  }
}

/** Decoding's bfloat16 panels of `b` where they were made (kept: an address; streamed: the array), without making any. */
export function bf16PanelsOf(b: Float32Array, transposeB: boolean): number | Uint16Array | undefined {
  return table('bf16', transposeB).get(b) ?? streamed[transposeB ? 1 : 0].get(b);
}

/** Copies streamed panels into scratch for one product; returns their byte address there. */
export function copyPanels(rt: WasmRuntime, panels: Uint16Array, scratch: number): number {
  new Uint16Array(rt.heap.memory.buffer, scratch, panels.length).set(panels);
  return scratch;
}

function packWeight(rt: WasmRuntime, s: KernelSettings, b: Float32Array, k: number, n: number, transposeB: boolean, kind: Kind, size: number): number {
  owner = rt;
  if (kind === 'f32') {
    const to = rt.heap.alloc(size);
    packInto(rt, s, placed(rt, b, rt.scratch(b.length * 4)), k, n, transposeB, to);
    remember(kind, transposeB, b, to, size);
    return to;
  }
  // bfloat16 from the float32 panels (kept ones, or packed in scratch for the conversion only)
  const { f32 } = float32Panels(rt, s, b, k, n, transposeB, 0);
  const to = rt.heap.alloc(size / 2);
  toBf16(rt, s, f32, to, size / 4);
  remember(kind, transposeB, b, to, size / 2);
  return to;
}

/**
 * The float32 panels of weight `b` to convert from: its kept ones, or packed now in scratch after
 * `before` bytes the caller keeps for itself there (at `scratch`).
 */
function float32Panels(rt: WasmRuntime, s: KernelSettings, b: Float32Array, k: number, n: number, transposeB: boolean, before: number): { f32: number; scratch: number } {
  const keptAt = table('f32', transposeB).get(b);
  const size = panelBytes(k, n);
  const scratch = rt.scratch(before + (keptAt === undefined ? size + b.length * 4 : 0));
  if (keptAt !== undefined) return { f32: keptAt, scratch };
  const f32 = scratch + before;
  packInto(rt, s, placed(rt, b, f32 + size), k, n, transposeB, f32);
  return { f32, scratch };
}

/** `count` floats at `from` rounded to bfloat16 at `to`, split across threads. */
function toBf16(rt: WasmRuntime, s: KernelSettings, from: number, to: number, count: number): void {
  // in blocks of 8 floats: src and dst advance by 32 and 16 bytes a block, count is 8 a block
  rt.parallel(s, 'to_bf16', [{ base: from, start: 32 }, { base: to, start: 16 }, { start: -8, end: 8 }], count / 8, s.threads, 4096);
}

function remember(kind: Kind, transposeB: boolean, b: Float32Array, at: number, size: number): void {
  table(kind, transposeB).set(b, at);
  blocks.push({ kind, transposeB, weight: new WeakRef(b), at, size });
  bytes += size;
}

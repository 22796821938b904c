import { LoomError } from '@loom/graph';

/**
 * The memory every WebAssembly kernel works in, shared by the main thread and the worker threads:
 * activations, states (KV caches) and packed weights are allocated here, so kernels read and write
 * them in place instead of copying them in and out per call. JavaScript sees allocations as typed
 * array views. A first-fit free list with coalescing; blocks are 64-byte aligned (cache lines, and
 * every v128 access is then aligned). The memory is shared (a SharedArrayBuffer): growing it leaves
 * existing views valid, which a plain WebAssembly memory would detach. Where there is no
 * SharedArrayBuffer (a browser page that is not cross-origin isolated) the heap is a plain memory of
 * a fixed size instead, as large as the engine gives (FIXED_HEAP_PAGES), never grown; one thread only.
 */
const PAGE = 65536;
const ALIGN = 64;
/** WebAssembly's 32-bit address space: 65536 pages. */
const MAX_PAGES = 65536;
/** Sizes a fixed (unshared) heap is tried at, largest first: 2 GiB, 1 GiB, 512 MiB, 256 MiB. */
export const FIXED_HEAP_PAGES = [32768, 16384, 8192, 4096];

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

export class WasmHeapError extends LoomError {
  constructor(message: string) {
    super('cpu-memory', message);
  }
}

export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  /** Free blocks, sorted by offset, never adjacent (merged on free). */
  private readonly free: { offset: number; size: number }[] = [];
  private readonly sizes = new Map<number, number>();
  /** Every buffer object the memory has handed out: a view on any of them lies in this heap. */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private current: ArrayBufferLike;
  private end: number;
  private used = 0;

  /** A shared, growable memory (false: a fixed one, where there is no SharedArrayBuffer). */
  readonly shared: boolean;

  constructor() {
    this.shared = typeof SharedArrayBuffer !== 'undefined';
    this.memory = this.shared ? new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true }) : fixedMemory();
    this.current = this.memory.buffer;
    this.buffers.add(this.current);
    // address 0 stays unused: kernels read a zero address as "absent" (no mask)
    this.end = ALIGN;
  }

  /** Bytes in live allocations. */
  get bytesInUse(): number {
    return this.used;
  }

  /** A block of at least `bytes` (64-byte aligned offset); grows the memory when needed. */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let offset = -1;
    const at = this.free.findIndex((b) => b.size >= size);
    if (at >= 0) {
      const block = this.free[at]!;
      offset = block.offset;
      if (block.size === size) this.free.splice(at, 1);
      else this.free[at] = { offset: block.offset + size, size: block.size - size };
    } else {
      // extend the top, absorbing a free block that ends there
      const last = this.free[this.free.length - 1];
      let start = this.end;
      if (last && last.offset + last.size === this.end) {
        start = last.offset;
        this.free.pop();
      }
      this.reserve(start + size);
      offset = start;
      this.end = start + size;
    }
    this.sizes.set(offset, size);
    this.used += size;
    return offset;
  }

  release(offset: number): void {
    const size = this.sizes.get(offset);
    if (size === undefined) return;
    this.sizes.delete(offset);
    this.used -= size;
    let i = this.free.findIndex((b) => b.offset > offset);
    if (i < 0) i = this.free.length;
    this.free.splice(i, 0, { offset, size });
    const next = this.free[i + 1];
    if (next && offset + size === next.offset) {
      this.free[i]!.size += next.size;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev.offset + prev.size === offset) {
      prev.size += this.free[i]!.size;
      this.free.splice(i, 1);
    }
  }

  /** Releases the block at `offset` once `owner` is garbage-collected (for arrays handed to callers, such as states). */
  releaseWhenCollected(owner: object, offset: number): void {
    this.collected.register(owner, offset);
  }

  private readonly collected = new FinalizationRegistry<number>((offset) => this.release(offset));

  f32(offset: number, length: number): Float32Array {
    return new Float32Array(this.buffer(), offset, length);
  }

  i32(offset: number, length: number): Int32Array {
    return new Int32Array(this.buffer(), offset, length);
  }

  /** The byte address of a typed array that views this heap, or -1 for an array elsewhere. */
  addressOf(view: ArrayBufferView): number {
    return this.buffers.has(view.buffer) ? view.byteOffset : -1;
  }

  private buffer(): ArrayBufferLike {
    // a shared memory's old buffers stay valid when it grows (views on them too): fetch the new one only then
    if (this.current.byteLength !== this.memory.buffer.byteLength) {
      this.current = this.memory.buffer;
      this.buffers.add(this.current);
    }
    return this.current;
  }

  private reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    if (!this.shared) throw this.fixedFull(bytes);
    const pages = Math.ceil((bytes - have) / PAGE);
    const room = MAX_PAGES - have / PAGE;
    if (pages > room) throw this.full(bytes);
    try {
      // grow by at least an eighth, so that many small allocations do not grow page by page
      this.memory.grow(Math.min(Math.max(pages, Math.ceil(have / PAGE / 8)), room));
    } catch {
      throw this.full(bytes); // the engine or the machine refused the pages
    }
  }

  /** The error for a fixed heap that cannot hold `bytes`: why it is fixed, and the ways around it. */
  private fixedFull(bytes: number): WasmHeapError {
    return new WasmHeapError(
      `cpu: this page is not cross-origin isolated, so the cpu backend's heap is a plain WebAssembly memory of a fixed ${mib(this.memory.buffer.byteLength)} ` +
        `(one that is not shared cannot grow without detaching the arrays on it), and ${mib(bytes)} are needed (${mib(this.used)} in use): ` +
        'serve the page with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp (the heap then grows to 4 GiB and threads run), ' +
        "store the weights in fewer bytes (weightStore 'bf16', 'q8' or 'q4'), or run on a GPU backend",
    );
  }

  /** The error for a heap that cannot hold `bytes`: the limit, and the ways around it. */
  private full(bytes: number): WasmHeapError {
    return new WasmHeapError(
      `cpu: WebAssembly memory cannot grow to ${mib(bytes)} (${mib(this.used)} in use; a 32-bit WebAssembly memory holds at most ${mib(MAX_PAGES * PAGE)}, ` +
        `and this engine or machine may allow less): store the weights in fewer bytes (weightStore 'bf16', 'q8' or 'q4'; --weight-store), shorten the sequence or the batch, or run on a GPU backend`,
    );
  }
}

/** The largest plain memory of FIXED_HEAP_PAGES the engine gives (it commits no memory until pages are touched). */
function fixedMemory(): WebAssembly.Memory {
  for (const pages of FIXED_HEAP_PAGES) {
    try {
      return new WebAssembly.Memory({ initial: pages, maximum: pages });
    } catch {
      // the engine refused this size: try the next
    }
  }
  throw new WasmHeapError(`cpu: this engine gives no WebAssembly memory of ${mib(FIXED_HEAP_PAGES[FIXED_HEAP_PAGES.length - 1]! * PAGE)} for the cpu backend's heap`);
}

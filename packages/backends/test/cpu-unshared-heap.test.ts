import { afterEach, describe, expect, it } from 'vitest';
import { PLAIN_BASE64, RELAXED_BASE64 } from '../src/cpu/wasm/kernels-wasm.ts';
import { Code, encodeModule, uleb } from '../src/cpu/wasm-codegen/wasm-module.ts';
import { FIXED_HEAP_PAGES, WasmHeap, WasmHeapError } from '../src/cpu/wasm-runtime/heap.ts';
import { unsharedMemoryImports } from '../src/cpu/wasm-runtime/unshared-memory.ts';

/**
 * The cpu backend without SharedArrayBuffer (a browser page that is not cross-origin isolated; the
 * page itself is tested in cpu-browser-threads.test.ts): the kernel modules made to import a plain
 * memory, and a heap of a fixed size that refuses to grow with an error naming the headers.
 */

const decode = (base64: string) => Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
const plainMemory = () => new WebAssembly.Memory({ initial: 16, maximum: 16 });

/** A generated module whose `run` stores 7 at address 32 of the heap. */
function storeSeven(): Uint8Array<ArrayBuffer> {
  const code = new Code([]);
  code.bytes.push(0x41, 32, 0x41, 7, 0x36, 2, 0); // i32.const 32, i32.const 7, i32.store align=4 offset=0 (one-byte signed LEBs)
  return encodeModule([{ code, export: 'run' }]);
}

describe('the cpu backend on a plain (unshared) WebAssembly memory', () => {
  const saved = globalThis.SharedArrayBuffer;
  afterEach(() => {
    globalThis.SharedArrayBuffer = saved;
  });

  it('both kernel builds and a generated module instantiate on a plain memory once their memory import is unshared, and run there', () => {
    for (const bytes of [decode(PLAIN_BASE64), decode(RELAXED_BASE64), storeSeven()]) {
      if (!WebAssembly.validate(bytes)) continue; // an engine without relaxed SIMD
      expect(() => new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: plainMemory() } })).toThrow(WebAssembly.LinkError);
      const patched = unsharedMemoryImports(bytes);
      expect(patched.length).toBe(bytes.length);
      expect([...patched].filter((b, i) => b !== bytes[i]).length).toBe(1); // the limits flags byte alone
      expect(WebAssembly.Module.imports(new WebAssembly.Module(patched))).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
      new WebAssembly.Instance(new WebAssembly.Module(patched), { env: { memory: plainMemory() } });
    }
    const memory = plainMemory();
    const run = new WebAssembly.Instance(new WebAssembly.Module(unsharedMemoryImports(storeSeven())), { env: { memory } }).exports['run'] as () => void;
    run();
    expect(new Int32Array(memory.buffer, 32, 1)[0]).toBe(7);
  });

  it('the patcher reads past imports of every other kind (function, table, global) to the memory', () => {
    const name = (text: string) => [text.length, ...Array.from(text, (ch) => ch.charCodeAt(0))];
    const imports = [
      4,
      ...name('m'), ...name('f'), 0x00, 0, // a function of type 0
      ...name('m'), ...name('t'), 0x01, 0x70, 0x01, 1, 2, // a funcref table, at least 1, at most 2
      ...name('m'), ...name('g'), 0x03, 0x7f, 0x00, // an immutable i32 global
      ...name('env'), ...name('memory'), 0x02, 0x03, 1, ...uleb(65536), // the shared memory
    ];
    const bytes = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 2, imports.length, ...imports]);
    const given = { m: { f: () => {}, t: new WebAssembly.Table({ initial: 1, maximum: 2, element: 'anyfunc' }), g: new WebAssembly.Global({ value: 'i32', mutable: false }, 1) }, env: { memory: plainMemory() } };
    expect(() => new WebAssembly.Instance(new WebAssembly.Module(bytes), given)).toThrow(WebAssembly.LinkError);
    new WebAssembly.Instance(new WebAssembly.Module(unsharedMemoryImports(bytes)), given);
  });

  it('without SharedArrayBuffer the heap is a fixed plain memory that refuses to grow, naming the two headers', () => {
    delete (globalThis as { SharedArrayBuffer?: unknown }).SharedArrayBuffer;
    const heap = new WasmHeap();
    expect(heap.shared).toBe(false);
    const size = heap.memory.buffer.byteLength;
    expect(FIXED_HEAP_PAGES.map((p) => p * 65536)).toContain(size);
    const at = heap.alloc(1 << 20);
    const view = heap.f32(at, 4);
    view.set([1, 2, 3, 4]);
    expect(() => heap.alloc(size)).toThrow(WasmHeapError);
    expect(() => heap.alloc(size)).toThrow(/not cross-origin isolated, so the cpu backend's heap is a plain WebAssembly memory of a fixed \d+ MiB .*Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp/);
    // nothing grew: the views handed out stay attached
    expect(heap.memory.buffer.byteLength).toBe(size);
    expect(Array.from(view)).toEqual([1, 2, 3, 4]);
  });
});

/**
 * A browser-style global `Worker` for Node, on node:worker_threads, so jax-js's wasm backend can
 * run its kernels on a pool of threads in Node as it does in a browser (jax-js only starts the pool
 * when `SharedArrayBuffer` and a global `Worker` exist; Node 20 has no global `Worker`).
 *
 * jax-js creates its workers from a Blob URL holding a classic worker script that uses `self`,
 * `self.onmessage` and `postMessage`; this shim reads the blob, prepends a small prelude mapping
 * those to `parentPort`, and starts a `worker_threads` Worker with `eval: true`. Messages (a shared
 * `WebAssembly.Memory`, `WebAssembly.Module`s) go through Node's structured clone, which supports both.
 *
 * Install it before `init('wasm')` (the backend decides once, at start-up). The pool size is
 * `navigator.hardwareConcurrency`; Node 20 has no `navigator`, so the shim defines one.
 */
import { resolveObjectURL } from 'node:buffer';
import { Worker as NodeWorker } from 'node:worker_threads';

const PRELUDE = `const { parentPort } = require('node:worker_threads');
globalThis.self = globalThis;
globalThis.postMessage = (data) => parentPort.postMessage(data);
parentPort.on('message', (data) => { if (typeof self.onmessage === 'function') self.onmessage({ data }); });
`;

const started: NodeWorker[] = [];

class BrowserStyleWorker {
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: { message: string }) => void) | null = null;
  #worker: NodeWorker | null = null;
  #pending: unknown[] = [];

  constructor(url: string | URL) {
    const blob = resolveObjectURL(String(url));
    if (!blob) throw new Error(`node-worker-shim: cannot resolve worker URL ${String(url)} (only Blob URLs are supported)`);
    void blob.text().then(
      (source) => {
        const worker = new NodeWorker(PRELUDE + source, { eval: true });
        worker.on('message', (data: unknown) => this.onmessage?.({ data }));
        worker.on('error', (error: Error) => this.onerror?.({ message: error.message }));
        started.push(worker);
        this.#worker = worker;
        for (const message of this.#pending) worker.postMessage(message);
        this.#pending = [];
      },
      (error: unknown) => this.onerror?.({ message: `node-worker-shim: cannot read the worker source: ${String(error)}` }),
    );
  }

  postMessage(message: unknown): void {
    if (this.#worker) this.#worker.postMessage(message);
    else this.#pending.push(message);
  }

  terminate(): void {
    void this.#worker?.terminate();
  }
}

/** Define a global `Worker` (and `navigator.hardwareConcurrency = threads` where Node has no `navigator`). */
export function installNodeWorkerShim(threads: number): void {
  const g = globalThis as Record<string, unknown>;
  if (g['Worker'] === undefined) g['Worker'] = BrowserStyleWorker;
  if (g['navigator'] === undefined) Object.defineProperty(globalThis, 'navigator', { value: { hardwareConcurrency: threads, userAgent: 'Node.js' }, configurable: true, writable: true });
}

/** How many pool threads the shim has started so far. */
export function shimWorkerCount(): number {
  return started.length;
}

/**
 * Keep the process alive while the pool is in use (true), or let it exit once the caller is done
 * (false): the pool is never closed by jax-js, and referenced threads would hold the process open.
 */
export function holdShimWorkers(hold: boolean): void {
  for (const worker of started) {
    if (hold) worker.ref();
    else worker.unref();
  }
}

import { LoomError } from '@loom/graph';
import { KERNEL_NAMES, type KernelExports, type KernelName, type SimdFlavor } from './simd.ts';

/**
 * Worker threads that run kernel calls on the shared WebAssembly memory. Each worker instantiates
 * the same compiled modules on the same memory, then sleeps on its control word (Atomics.wait). A
 * parallel call writes each worker's arguments into its control block, wakes it, runs its own share
 * on the calling thread, and waits (spinning briefly, then sleeping) until every worker has stored
 * its done word; idle workers spin briefly too before they sleep. The caller stays
 * synchronous, so the generated kernels need no async plumbing. Workers are unref'd: an idle pool
 * never keeps a process alive.
 */
const MAX_ARGS = 32;
/** Control block, in Int32 slots: request sequence, done sequence, failed flag, flavor, kernel, arg count, args. */
const SEQ = 0;
const DONE = 1;
const FAILED = 2;
const FLAVOR = 3;
const KERNEL = 4;
const COUNT = 5;
const ARGS = 6;
const SLOTS = ARGS + MAX_ARGS;
/** Loads of the control word before a thread sleeps (a millisecond or two: a futex wake costs 50-150 us, and in decoding the next product comes within that; 10x fewer made a GPT-2 decode step 30% slower). */
const SPIN = 2_000_000;

export class ThreadPoolError extends LoomError {
  constructor(message: string) {
    super('cpu-threads', message);
  }
}

export interface WorkerHandle {
  postMessage(value: unknown): void;
  terminate(): Promise<number> | void;
  unref?(): void;
}

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { modules, memory, control, names } = workerData;
const kernels = modules.map((m) => new WebAssembly.Instance(m, { env: { memory } }).exports);
const c = new Int32Array(control);
let seen = 0;
for (;;) {
  // spin a while before sleeping: kernels come back to back, and a futex wake costs ~100 us
  for (let i = 0; i < ${SPIN} && Atomics.load(c, ${SEQ}) === seen; i++);
  Atomics.wait(c, ${SEQ}, seen);
  seen = Atomics.load(c, ${SEQ});
  if (seen < 0) break;
  try {
    const args = [];
    for (let i = 0; i < c[${COUNT}]; i++) args.push(c[${ARGS} + i]);
    kernels[c[${FLAVOR}]][names[c[${KERNEL}]]](...args);
    c[${FAILED}] = 0;
  } catch (e) {
    c[${FAILED}] = 1;
  }
  Atomics.store(c, ${DONE}, seen);
  Atomics.notify(c, ${DONE});
}
`;

const FLAVORS: readonly SimdFlavor[] = ['plain', 'relaxed'];

export class ThreadPool {
  private readonly controls: Int32Array[] = [];
  private readonly workers: WorkerHandle[] = [];
  private sequence = 0;

  private constructor(private readonly local: Readonly<Partial<Record<SimdFlavor, KernelExports>>>) {}

  /**
   * A pool of `workers` threads (0 is a valid pool: everything runs on the caller). `modules` are the
   * flavors' compiled modules; `local` their instances on this thread.
   */
  static async create(workers: number, memory: WebAssembly.Memory, modules: Partial<Record<SimdFlavor, WebAssembly.Module>>, local: Partial<Record<SimdFlavor, KernelExports>>): Promise<ThreadPool> {
    const pool = new ThreadPool(local);
    if (workers > 0) {
      if (typeof process === 'undefined' || !process.versions?.node) throw new ThreadPoolError('cpu: worker threads are implemented for Node only; use threads: 1 here');
      const { Worker } = (await import(/* @vite-ignore */ `node:${'worker_threads'}`)) as typeof import('node:worker_threads');
      const list = FLAVORS.map((f) => modules[f] ?? modules.plain!);
      for (let w = 0; w < workers; w++) {
        const control = new SharedArrayBuffer(SLOTS * 4);
        const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { modules: list, memory, control, names: KERNEL_NAMES } });
        worker.unref();
        pool.workers.push(worker);
        pool.controls.push(new Int32Array(control));
      }
    }
    return pool;
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Runs `kernel` once per argument list, in parallel: list 0 on this thread, list i on worker i - 1,
   * and returns when all are done. At most `threads` lists.
   */
  run(flavor: SimdFlavor, kernel: KernelName, argLists: readonly (readonly number[])[]): void {
    if (argLists.length > this.threads) throw new ThreadPoolError(`cpu: ${argLists.length} parallel calls on ${this.threads} threads`);
    const remote = argLists.length - 1;
    const seq = ++this.sequence;
    for (let w = 0; w < remote; w++) {
      const c = this.controls[w]!;
      const args = argLists[w + 1]!;
      c[FLAVOR] = FLAVORS.indexOf(flavor);
      c[KERNEL] = KERNEL_NAMES.indexOf(kernel);
      c[COUNT] = args.length;
      for (let i = 0; i < args.length; i++) c[ARGS + i] = args[i]!;
      Atomics.store(c, SEQ, seq);
      Atomics.notify(c, SEQ);
    }
    let failure: unknown;
    try {
      if (argLists.length > 0) (this.local[flavor]![kernel] as (...a: number[]) => void)(...argLists[0]!);
    } catch (e) {
      failure = e;
    }
    for (let w = 0; w < remote; w++) {
      const c = this.controls[w]!;
      for (let i = 0; i < SPIN && Atomics.load(c, DONE) !== seq; i++);
      while (Atomics.load(c, DONE) !== seq) Atomics.wait(c, DONE, Atomics.load(c, DONE), 1000);
      if (c[FAILED]) failure ??= new ThreadPoolError(`cpu: kernel ${kernel} failed on worker thread ${w + 1}`);
    }
    if (failure) throw failure instanceof LoomError ? failure : new ThreadPoolError(`cpu: kernel ${kernel} failed: ${(failure as Error).message}`);
  }

  /** Stops the workers. */
  close(): void {
    for (const c of this.controls) {
      Atomics.store(c, SEQ, -1);
      Atomics.notify(c, SEQ);
    }
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
    this.controls.length = 0;
  }
}

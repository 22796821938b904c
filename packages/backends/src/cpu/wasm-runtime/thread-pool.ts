import { LoomError } from '@loom/graph';
import { KERNEL_NAMES, type KernelExports, type KernelName, type SimdFlavor } from './simd.ts';
import { StallGuard } from './stall-guard.ts';

/**
 * Worker threads that run kernel calls on the shared WebAssembly memory. Each worker instantiates
 * the same compiled modules on the same memory, then sleeps on a wake word (Atomics.wait).
 *
 * A parallel call is a **job**: a range of work items (column panels, heads, rows) cut into chunks.
 * The caller publishes the job, wakes the workers, and then every participant, the caller included,
 * claims chunks one at a time until none is left. Claiming rather than dividing up front is what
 * keeps threads from losing to one thread on a busy machine: a thread whose core is taken by another
 * process simply claims fewer chunks, and the caller waits only for chunks already being worked on,
 * never for a thread that has not woken up. Each item is computed the same way whoever claims it,
 * so any thread count and any interleaving give the same bits.
 *
 * A claim is a compare-and-swap on one 32-bit word holding (job number, next chunk), so a worker
 * that wakes late cannot take a chunk of a job other than the one it read (unless it stalled
 * between two loads for the 2^21 jobs it takes the number to come round again; a 64-bit word would
 * make that impossible, but JavaScript reaches it only through BigInts, which cost 150 ns a
 * claim, a tenth of a small job's dispatch); it reads the job's
 * arguments only after a claim succeeds, when the caller cannot yet have moved on. The caller stays
 * synchronous, so the generated kernels need no async plumbing. A StallGuard pauses the workers
 * while waiting for them costs more than they bring (stall-guard.ts). In Node the workers are
 * worker_threads, unref'd (an idle pool never keeps a process alive); in a browser they are Workers
 * made from a Blob URL that wait with Atomics.waitAsync (BROWSER_WORKER_SOURCE), and a caller on a
 * page's main thread, where Atomics.wait is refused, spins instead.
 */
const MAX_ARGS = 32;

/** The job block, in Int32 slots: the claim word, the job's whole number (not cut to the claim word's 21 bits), then the job. */
const CLAIM = 0;
const JOB = 1;
const WAKE = 2; // job number, for Atomics.wait / notify
const DONE = 3; // chunks finished
const FAILED = 4;
const MODULE = 5; // 0: plain kernels, 1: relaxed, then the modules generated at prepare time (FIRST_GENERATED_MODULE on)
const KERNEL = 6;
const COUNT = 7; // arguments
const TOTAL = 8; // work items
const CHUNK = 9; // items per chunk
const PARTICIPANTS = 10; // threads allowed to take part (caller = 0, worker w = w + 1)
const STATIC = 11; // 1: each participant runs one chunk (every thread busy at once, for measurements)
const ARGS = 12; // then per argument: base, per range start, per range end, per participant
const SLOTS = ARGS + 4 * MAX_ARGS;

/** Loads of the wake word before a thread sleeps (a millisecond or two: a futex wake costs 50-150 us, and in decoding the next product comes within that; 10x fewer made a GPT-2 decode step 30% slower). */
const SPIN = 2_000_000;
/** Loads of the done word before the caller sleeps while others finish their chunks. */
const DONE_SPIN = 200_000;

export class ThreadPoolError extends LoomError {
  constructor(message: string) {
    super('cpu-threads', message);
  }
}

/**
 * One kernel argument as a function of the chunk and the thread running it:
 * `base + start * chunkStart + end * chunkEnd + thread * participant`.
 * A plain number is a constant.
 */
export type KernelArg = number | { readonly base?: number; readonly start?: number; readonly end?: number; readonly thread?: number };

/** The first item of the chunk. */
export const CHUNK_START: KernelArg = { start: 1 };
/** One past the last item of the chunk. */
export const CHUNK_END: KernelArg = { end: 1 };
/** A per-thread block: `base + step * participant` (each thread's own scratch row, say). */
export const perThread = (base: number, step: number): KernelArg => ({ base, thread: step });

export interface Job {
  readonly flavor: SimdFlavor;
  /** A hand-written kernel, or `run` of a generated module (`module`, from addModule). */
  readonly kernel: KernelName | 'run';
  readonly module?: number;
  readonly args: readonly KernelArg[];
  /** Work items, cut into chunks of `chunk` (the last one shorter). */
  readonly total: number;
  readonly chunk: number;
  /** Threads that may take part, the caller included. */
  readonly threads: number;
  /** One chunk per participant, all at once (for timing the arithmetic bound); otherwise as many as each claims. */
  readonly static?: boolean;
}

const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { modules, memory, control, names, me, port } = workerData;
const kernels = modules.map((m) => new WebAssembly.Instance(m, { env: { memory } }).exports);
// modules generated after the worker started arrive on its port, posted before their first job
const moduleAt = (i) => {
  for (let spin = 0; !kernels[i]; spin++) {
    const m = receiveMessageOnPort(port);
    if (m) kernels[m.message.index] = new WebAssembly.Instance(m.message.module, { env: { memory } }).exports;
    else if (spin > 1e8) throw new Error('generated module ' + i + ' never reached worker ' + me);
  }
  return kernels[i];
};
const c = new Int32Array(control);
const runChunks = ${runChunks.toString()};
const fail = () => {};
const last = { staticJob: -1 };
let seen = 0;
for (;;) {
  // spin a while before sleeping: kernels come back to back, and a futex wake costs ~100 us
  for (let i = 0; i < ${SPIN} && Atomics.load(c, ${WAKE}) === seen; i++);
  Atomics.wait(c, ${WAKE}, seen);
  seen = Atomics.load(c, ${WAKE});
  if (seen < 0) break;
  runChunks(c, moduleAt, names, me, fail, undefined, last);
}
`;

/**
 * The same worker in a browser: a classic Worker made from this text (a Blob URL, so no file to
 * serve), given its modules, the memory and the control block in its first message. Between jobs it
 * waits with Atomics.waitAsync rather than Atomics.wait, so that it keeps taking messages: modules
 * generated after it started arrive as messages, and it takes no chunk of a job whose module has
 * not arrived yet (the other threads do them).
 */
const BROWSER_WORKER_SOURCE = `
const runChunks = ${runChunks.toString()};
self.onmessage = async (start) => {
  const { modules, memory, control, names, me } = start.data;
  const kernels = modules.map((m) => new WebAssembly.Instance(m, { env: { memory } }).exports);
  self.onmessage = (e) => { kernels[e.data.index] = new WebAssembly.Instance(e.data.module, { env: { memory } }).exports; };
  self.postMessage('ready');
  const c = new Int32Array(control);
  const last = { staticJob: -1 };
  let seen = 0;
  for (;;) {
    for (let i = 0; i < ${SPIN} && Atomics.load(c, ${WAKE}) === seen; i++);
    if (Atomics.load(c, ${WAKE}) === seen) await Atomics.waitAsync(c, ${WAKE}, seen).value;
    seen = Atomics.load(c, ${WAKE});
    if (seen < 0) break;
    runChunks(c, (i) => kernels[i], names, me, () => {}, (i) => Boolean(kernels[i]), last);
  }
  self.close();
};
`;

/** How long a browser worker may take to start before the pool gives up on it. */
const START_MS = 30_000;

/**
 * Resolves when a browser worker has instantiated its kernels; rejects, naming it, when it fails or
 * takes too long. A failure after that (a module it could not instantiate) goes to `broke`, kept
 * from the page's own error handlers: the pool refuses its next job with it.
 */
function workerStarted(worker: Worker, index: number, broke: (message: string) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let up = false;
    const timer = setTimeout(() => reject(new ThreadPoolError(`cpu: worker thread ${index} did not start within ${START_MS / 1000} s`)), START_MS);
    worker.onmessage = (e: MessageEvent) => {
      if (e.data !== 'ready') return;
      clearTimeout(timer);
      up = true;
      resolve();
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      if (up) return broke(`cpu: worker thread ${index} failed: ${e.message || 'no message'}`);
      clearTimeout(timer);
      reject(new ThreadPoolError(`cpu: worker thread ${index} failed to start (${e.message || 'no message'}); a Content-Security-Policy must allow Blob workers (worker-src blob:)`));
    };
  });
}

/** Whether this thread may block in Atomics.wait (not on a browser's main thread, where it throws). */
function mayBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** Why a browser page cannot run worker threads ('' when it can): they need a cross-origin isolated page. */
export function browserThreadsUnavailable(threads: number): string {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  if (!isolated) return `cpu: ${threads} threads in a browser run as Workers on a SharedArrayBuffer, but this page is not cross-origin isolated, so it has none: serve the page with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp (or credentialless), or ask for threads: 1`;
  if (typeof (Atomics as { waitAsync?: unknown }).waitAsync !== 'function') return `cpu: ${threads} threads in a browser need Atomics.waitAsync, which this browser lacks: ask for threads: 1`;
  return '';
}

/**
 * Claims and runs chunks of the current job until none is left (a static job: one chunk); a failing
 * chunk calls `fail`. `last` is this thread's own record of the static job it took a chunk of, so
 * that coming back to that job from the loop of the job before (a worker still claiming when it was
 * published) takes no second chunk. Returns how many chunks this thread ran. Shared by the caller
 * and the workers (its text is embedded in their source), so it uses only its arguments and the
 * slot numbers written out below.
 */
function runChunks(c: Int32Array, moduleAt: (index: number) => Record<string, (...a: number[]) => void>, names: readonly string[], me: number, fail: (e: unknown) => void, has: (index: number) => boolean = () => true, last: { staticJob: number } = { staticJob: -1 }): number {
  let ran = 0;
  for (;;) {
    const word = Atomics.load(c, 0);
    // fields are read after the word: if they belong to a newer job, the claim below fails and we read again
    const total = c[8]!, chunk = c[9]!, participants = c[10]!, isStatic = c[11]!, job = c[1]!;
    if (word === -1 || me >= participants) return ran; // closed while the caller rewrites it, or not one of its threads
    // a browser worker whose copy of the job's module has not arrived yet takes no chunk of it (the others do)
    if (!has(c[5]!)) return ran;
    if (isStatic && job === last.staticJob) return ran;
    // the next chunk: the word's low 10 bits
    const index = word & 1023;
    if (index >= Math.ceil(total / chunk)) return ran;
    if (Atomics.compareExchange(c, 0, word, word + 1) !== word) continue;
    // the claim holds the job (its caller waits for this chunk), so its fields are read again: they
    // differ from the ones above only if this thread stalled while the job number came round
    const jobTotal = c[8]!, jobChunk = c[9]!;
    const chunks = Math.ceil(jobTotal / jobChunk);
    if (index >= chunks) continue; // past that job's chunks: nothing to run or count
    if (c[11]) last.staticJob = c[1]!;
    const start = index * jobChunk;
    const end = Math.min(jobTotal, start + jobChunk);
    const count = c[7]!;
    const args: number[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const at = 12 + 4 * i;
      args[i] = c[at]! + c[at + 1]! * start + c[at + 2]! * end + c[at + 3]! * me;
    }
    try {
      moduleAt(c[5]!)[names[c[6]!]!]!(...args);
    } catch (e) {
      Atomics.store(c, 4, 1);
      fail(e);
    }
    ran++;
    if (Atomics.add(c, 3, 1) + 1 === chunks) Atomics.notify(c, 3);
    if (c[11]) return ran;
  }
}

/** The claim word between jobs: no chunk can be taken while the caller writes the next job's fields. */
const CLOSED = -1;
/** Chunks a job may have: the claim word's low 10 bits count them (job numbers take the 21 above). */
export const MAX_CHUNKS = 1023;

const FLAVORS: readonly SimdFlavor[] = ['plain', 'relaxed'];
/** Job module indices: the flavors' kernels first, then the generated modules in order. */
export const FIRST_GENERATED_MODULE = FLAVORS.length;

export interface WorkerHandle {
  postMessage(value: unknown): void;
  terminate(): Promise<number> | void;
  unref?(): void;
}

/** Kernel names as job slots hold them: the hand-written ones, then a generated module's `run`. */
const NAMES: readonly string[] = [...KERNEL_NAMES, 'run'];
const KERNEL_SLOT: ReadonlyMap<string, number> = new Map(NAMES.map((name, i) => [name, i]));

/** A module made at prepare time (wasm-codegen) and its instance on the calling thread. */
export interface GeneratedModule {
  readonly module: WebAssembly.Module;
  readonly exports: Record<string, (...a: number[]) => void>;
}

export class ThreadPool {
  private readonly workers: WorkerHandle[] = [];
  private readonly ports: { postMessage(value: unknown): void; close?(): void }[] = [];
  private readonly control = new Int32Array(new SharedArrayBuffer(SLOTS * 4));
  private readonly localByIndex: Record<string, (...a: number[]) => void>[];
  /** Jobs dispatched (wrapping at 2^31); the claim word holds it mod 2^21. */
  private jobs = 0;
  /** The caller's record of the static job it took a chunk of (runChunks). */
  private readonly callerLast = { staticJob: -1 };
  private readonly callerBlocks = mayBlock();
  /** Chunks the workers (not the caller) have run: a test's proof that the threads took part. */
  workerChunks = 0;
  /** Why a browser worker stopped working after it started, if one did. */
  broken: string | undefined;
  /** Pauses the workers while they hold the caller up (another process on their cores). */
  private readonly guard = new StallGuard();

  private constructor(local: Readonly<Partial<Record<SimdFlavor, KernelExports>>>, generated: readonly GeneratedModule[]) {
    this.control[CLAIM] = CLOSED;
    this.localByIndex = [...FLAVORS.map((f) => (local[f] ?? local.plain) as unknown as Record<string, (...a: number[]) => void>), ...generated.map((g) => g.exports)];
  }

  /**
   * A pool of `workers` threads (0 is a valid pool: everything runs on the caller). `modules` are the
   * flavors' compiled modules; `local` their instances on this thread; `generated` the modules made
   * so far at prepare time (module indices FIRST_GENERATED_MODULE on, in order).
   */
  static async create(workers: number, memory: WebAssembly.Memory, modules: Partial<Record<SimdFlavor, WebAssembly.Module>>, local: Partial<Record<SimdFlavor, KernelExports>>, generated: readonly GeneratedModule[] = []): Promise<ThreadPool> {
    const browser = typeof process === 'undefined' || !process.versions?.node;
    // before the pool's own shared words: a page without isolation has no SharedArrayBuffer
    const unavailable = workers > 0 && browser ? browserThreadsUnavailable(workers + 1) : '';
    if (unavailable) throw new ThreadPoolError(unavailable);
    const pool = new ThreadPool(local, generated);
    const list = [...FLAVORS.map((f) => modules[f] ?? modules.plain!), ...generated.map((g) => g.module)];
    if (workers > 0 && browser) {
      // a browser (a page or a Worker): nested Workers on the shared memory
      const url = URL.createObjectURL(new Blob([BROWSER_WORKER_SOURCE], { type: 'text/javascript' }));
      // every worker up before the first job, and one that cannot start is an error here, not a pool of fewer threads
      try {
        const started: Promise<void>[] = [];
        for (let w = 0; w < workers; w++) {
          const worker = new Worker(url, { name: `loom-cpu-${w + 1}` });
          pool.workers.push(worker);
          pool.ports.push(worker);
          worker.postMessage({ modules: list, memory, control: pool.control.buffer, names: NAMES, me: w + 1 });
          started.push(workerStarted(worker, w + 1, (message) => (pool.broken ??= message)));
        }
        await Promise.all(started);
      } catch (e) {
        pool.close();
        throw e;
      } finally {
        URL.revokeObjectURL(url);
      }
    } else if (workers > 0) {
      const { Worker, MessageChannel } = (await import(/* @vite-ignore */ `node:${'worker_threads'}`)) as typeof import('node:worker_threads');
      for (let w = 0; w < workers; w++) {
        const { port1, port2 } = new MessageChannel();
        const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { modules: list, memory, control: pool.control.buffer, names: NAMES, me: w + 1, port: port2 }, transferList: [port2] });
        worker.unref();
        port1.unref();
        pool.workers.push(worker);
        pool.ports.push(port1);
      }
    }
    return pool;
  }

  /** Makes a generated module runnable on every thread; returns its module index for jobs. */
  addModule(generated: GeneratedModule): number {
    const index = this.localByIndex.length;
    this.localByIndex.push(generated.exports);
    for (const port of this.ports) port.postMessage({ index, module: generated.module });
    return index;
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  /** Whether parallel calls should wake the workers now (see stall-guard.ts); otherwise run them on the caller alone. */
  get workersWelcome(): boolean {
    return this.guard.workersAllowed();
  }

  /** Runs the job on at most `job.threads` threads (this one included) and returns when every chunk is done. */
  dispatch(job: Job): void {
    const chunks = Math.ceil(job.total / job.chunk);
    if (chunks === 0) return;
    if (this.broken) throw new ThreadPoolError(this.broken);
    if (job.args.length > MAX_ARGS) throw new ThreadPoolError(`cpu: kernel ${job.kernel} takes ${job.args.length} arguments, more than ${MAX_ARGS}`);
    const threads = Math.min(job.threads, this.threads);
    if (job.static && chunks > threads) throw new ThreadPoolError(`cpu: ${chunks} static chunks on ${threads} threads`);
    if (chunks > MAX_CHUNKS) throw new ThreadPoolError(`cpu: kernel ${job.kernel} split into ${chunks} chunks, more than ${MAX_CHUNKS}`);
    const c = this.control;
    this.jobs = (this.jobs + 1) | 0;
    const seq = this.jobs & 0x1fffff;
    Atomics.store(c, CLAIM, CLOSED);
    c[JOB] = this.jobs;
    c[DONE] = 0;
    c[FAILED] = 0;
    c[MODULE] = job.module ?? FLAVORS.indexOf(job.flavor);
    c[KERNEL] = KERNEL_SLOT.get(job.kernel)!;
    c[COUNT] = job.args.length;
    c[TOTAL] = job.total;
    c[CHUNK] = job.chunk;
    c[PARTICIPANTS] = threads;
    c[STATIC] = job.static ? 1 : 0;
    for (let i = 0, at = ARGS; i < job.args.length; i++, at += 4) {
      const arg = job.args[i]!;
      if (typeof arg === 'number') {
        c[at] = arg;
        c[at + 1] = c[at + 2] = c[at + 3] = 0;
      } else {
        c[at] = arg.base ?? 0;
        c[at + 1] = arg.start ?? 0;
        c[at + 2] = arg.end ?? 0;
        c[at + 3] = arg.thread ?? 0;
      }
    }
    // publishing the claim word opens the job; then wake those who sleep
    Atomics.store(c, CLAIM, seq << 10);
    if (threads > 1 && chunks > 1) {
      Atomics.store(c, WAKE, seq);
      Atomics.notify(c, WAKE);
    }
    let failure: unknown;
    const start = performance.now();
    const mine = runChunks(c, (i) => this.localByIndex[i]!, NAMES, 0, (e) => (failure ??= e), undefined, this.callerLast);
    const own = performance.now();
    for (let i = 0; i < DONE_SPIN && Atomics.load(c, DONE) < chunks; i++);
    // a browser's main thread may not block: it spins until the workers' chunks are done
    for (let done = Atomics.load(c, DONE); done < chunks; done = Atomics.load(c, DONE)) if (this.callerBlocks) Atomics.wait(c, DONE, done, 1000);
    this.workerChunks += chunks - mine;
    if (threads > 1 && chunks > 1 && !job.static) this.guard.record({ threads, chunks, mine, ownMs: own - start, waitMs: performance.now() - own });
    if (failure instanceof LoomError) throw failure;
    if (c[FAILED]) throw new ThreadPoolError(`cpu: kernel ${job.kernel} failed${failure ? `: ${(failure as Error).message}` : ' on a worker thread'}`);
  }

  /** Stops the workers. */
  close(): void {
    Atomics.store(this.control, WAKE, -1);
    Atomics.notify(this.control, WAKE);
    for (const w of this.workers) void w.terminate();
    for (const p of this.ports) p.close?.();
    this.workers.length = 0;
    this.ports.length = 0;
  }
}

import { LoomError } from '@loom/graph';

/** A thread count that is not a positive integer, or more threads than the machine can use. */
export class ThreadCountError extends LoomError {
  constructor(message: string) {
    super('cpu-threads', message);
  }
}

/**
 * The memory each worker thread holds: its own V8 isolate and kernel instances (the heap itself is
 * shared). Measured at 7.6 MiB per worker in Node 20 (RSS over 8 and 32 workers); rounded up.
 */
export const WORKER_BYTES = 8 * 2 ** 20;

/** Bytes of the worker threads a program of `threads` threads uses (the calling thread is not a worker). */
export function workerBytes(threads: number): number {
  return (threads - 1) * WORKER_BYTES;
}

/**
 * The most threads a program may ask for: twice the machine's cores. More threads than cores only
 * take turns on them (the kernels are compute-bound), yet each is a worker of ~8 MiB that wakes for
 * every parallel kernel; twice leaves room for a count set on a bigger machine and for tests that
 * run 2 threads on one core. Above it is a typo (1000, 1e11), refused rather than clamped.
 */
export function maxThreads(cores: number): number {
  return 2 * Math.max(1, cores);
}

/**
 * The threads a cpu program runs: LOOM_CPU_THREADS when set (it overrides), else `requested` (the
 * prepare option, --threads), else the machine's cores. Either must be a positive integer at most
 * maxThreads(cores); anything else is a ThreadCountError naming where the value came from.
 */
export function resolveThreads(requested: number | undefined, envValue: string | undefined, cores: number): number {
  const limit = maxThreads(cores);
  const machine = `twice this machine's ${cores} core${cores === 1 ? '' : 's'}: more threads only take turns on the cores, and each worker holds about ${WORKER_BYTES / 2 ** 20} MiB`;
  if (envValue !== undefined && envValue.trim() !== '') {
    const text = envValue.trim();
    if (!/^\d+$/.test(text) || Number(text) < 1) throw new ThreadCountError(`LOOM_CPU_THREADS must be a positive integer, got '${envValue.slice(0, 40)}'`);
    if (Number(text) > limit) throw new ThreadCountError(`LOOM_CPU_THREADS=${text.slice(0, 40)} is above the limit of ${limit} threads (${machine})`);
    return Number(text);
  }
  if (requested === undefined) return Math.max(1, cores);
  if (!Number.isSafeInteger(requested) || requested < 1) throw new ThreadCountError(`cpu: threads must be a positive integer, got ${requested}`);
  if (requested > limit) throw new ThreadCountError(`cpu: ${requested} threads (--threads, prepare option threads) is above the limit of ${limit} (${machine})`);
  return requested;
}

/** The machine's cores: os.availableParallelism in Node, navigator.hardwareConcurrency in a browser. */
export async function machineCores(): Promise<number> {
  if (typeof process !== 'undefined' && process.versions?.node) {
    const os = (await import(/* @vite-ignore */ `node:${'os'}`)) as typeof import('node:os');
    return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  }
  return Math.max(1, (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1);
}

/** resolveThreads against this process's environment and machine. */
export async function cpuThreads(requested?: number): Promise<number> {
  const env = typeof process !== 'undefined' ? process.env?.['LOOM_CPU_THREADS'] : undefined;
  return resolveThreads(requested, env, await machineCores());
}

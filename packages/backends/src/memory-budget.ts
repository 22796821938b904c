import { LoomError, resolveDim, type DimBindings, type Weights } from '@loom/graph';
import type { Plan } from '@loom/compiler';

/** A model that needs more memory than the budget: refused before anything is allocated. */
export class MemoryBudgetError extends LoomError {
  constructor(message: string) {
    super('memory-budget', message);
  }
}

const GIB = 2 ** 30;

/** The share of the machine's memory the default budget allows (the rest is the system's and other programs'). */
export const DEFAULT_MEMORY_SHARE = 0.75;

/**
 * The default budget: three quarters of the machine's memory in Node (os.totalmem), the device's
 * memory hint in a browser (navigator.deviceMemory, in GiB), else 4 GiB.
 */
export async function defaultMaxMemory(): Promise<number> {
  if (typeof process !== 'undefined' && process.versions?.node) {
    const os = (await import(/* @vite-ignore */ `node:${'os'}`)) as typeof import('node:os');
    return Math.floor(os.totalmem() * DEFAULT_MEMORY_SHARE);
  }
  const hint = (globalThis as { navigator?: { deviceMemory?: number } }).navigator?.deviceMemory;
  return typeof hint === 'number' && hint > 0 ? hint * GIB : 4 * GIB;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** Bytes for a message: MiB below a GiB, GiB above. */
export function formatBytes(bytes: number): string {
  return bytes < GIB ? mib(bytes) : `${(bytes / GIB).toFixed(1)} GiB`;
}

/** What a prepared model holds: weights (with any packed copies), constants; and per run, its buffers. */
export interface ModelBytes {
  readonly weights: number;
  /** Extra copies a backend keeps of the weights (the cpu's packed panels, and its heap copies of vectors: biases, norms). */
  readonly weightCopies?: number;
  readonly constants: number;
  /** The cpu's worker threads (their isolates and kernel instances; see cpu-threads.ts). */
  readonly workers?: number;
}

/** Bytes of the plan's weights (as given) and constants. */
export function staticBytes(plan: Plan, weights: Weights): Omit<ModelBytes, 'weightCopies'> {
  let w = 0;
  let constants = 0;
  const counted = new Set<string>();
  for (const b of plan.buffers) {
    if (b.kind === 'param' && b.name && !counted.has(b.name)) {
      counted.add(b.name);
      const data = weights.get(b.name)?.data;
      w += data ? data.byteLength : resolveDim(b.size, new Map()) * 4;
    }
    if (b.kind === 'constant') constants += resolveDim(b.size, new Map()) * 4;
  }
  return { weights: w, constants };
}

/** Bytes of every intermediate, output and state buffer of a run at `bindings`. */
export function runBytes(plan: Plan, bindings: DimBindings): number {
  let bytes = 0;
  for (const b of plan.buffers) if (b.kind === 'intermediate' || b.kind === 'output' || b.kind === 'state') bytes += resolveDim(b.size, bindings) * 4;
  return bytes;
}

/**
 * Refuses, with the numbers, a model (and, given `run`, a run at `bindings`) whose bytes exceed
 * `maxBytes`: a small file declaring a huge shape gets an error, not an allocation of gigabytes.
 */
export function checkMemoryBudget(backend: string, held: ModelBytes, maxBytes: number, run?: { bytes: number; bindings: DimBindings }): void {
  const total = held.weights + (held.weightCopies ?? 0) + held.constants + (held.workers ?? 0) + (run?.bytes ?? 0);
  if (total <= maxBytes) return;
  const at = run ? [...run.bindings].map(([k, v]) => `${k}=${v}`).join(', ') : '';
  const parts = [
    `weights ${mib(held.weights)}${held.weightCopies ? ` (+ ${mib(held.weightCopies)} packed)` : ''}`,
    `constants ${mib(held.constants)}`,
    ...(held.workers ? [`worker threads ${mib(held.workers)}`] : []),
    ...(run ? [`intermediates, outputs and states ${mib(run.bytes)}${at ? ` at ${at}` : ''}`] : []),
  ];
  throw new MemoryBudgetError(`${backend}: ${run ? 'this run' : 'the model'} needs ${mib(total)} (${parts.join(', ')}), above the memory budget of ${mib(maxBytes)} (prepare option maxMemory, --max-memory)`);
}

import { LoomError, resolveDim, type DimBindings } from '@loom/graph';
import type { Plan } from '@loom/compiler';

/** A plan that needs more memory than the budget: refused before anything is allocated. */
export class MemoryBudgetError extends LoomError {
  constructor(message: string) {
    super('memory-budget', message);
  }
}

/** The kernels' heap is WebAssembly memory: 4 GiB at most, some of it for packed weights and scratch. */
export const DEFAULT_MAX_MEMORY = 3 * 2 ** 30;

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * Checks the bytes a run at `bindings` allocates (every intermediate, output and state buffer, and
 * the constants) against `maxBytes`, so that a small file declaring a huge shape gets an error with
 * the numbers instead of an allocation of gigabytes.
 */
export function checkMemoryBudget(plan: Plan, bindings: DimBindings, maxBytes: number, what: string): void {
  let constants = 0;
  let buffers = 0;
  for (const b of plan.buffers) {
    if (b.kind === 'param' || b.kind === 'input') continue;
    const bytes = resolveDim(b.size, bindings) * 4;
    if (b.kind === 'constant') constants += bytes;
    else buffers += bytes;
  }
  if (constants + buffers > maxBytes) {
    const at = [...bindings].map(([k, v]) => `${k}=${v}`).join(', ');
    throw new MemoryBudgetError(
      `cpu: ${what} needs ${mib(constants + buffers)} (constants ${mib(constants)}, intermediates, outputs and states ${mib(buffers)}${at ? ` at ${at}` : ''}), above the memory budget of ${mib(maxBytes)} (prepare option maxMemory)`,
    );
  }
}

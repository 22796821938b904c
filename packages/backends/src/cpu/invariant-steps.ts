import type { Plan } from '@loom/compiler';
import type { Storage } from '@loom/graph';

/** Cached outputs are kept up to this many bytes in all (a sinusoid table or a mask, not a weight transform). */
export const INVARIANT_CACHE_BYTES = 64 * 2 ** 20;

/**
 * Steps whose value depends on no graph input or state, only on the weights, the constants and the
 * symbol values: a sinusoidal position table, a causal mask, position ids. Their outputs are the
 * same on every run at the same symbol values, so the first run keeps a copy of each and the next
 * ones write the copy back instead of computing it (sin and cos over [seq, d] cost about a tenth of
 * the paper's encoder layer). The copy is written where the kernel would have written, at the same
 * point of the run, so buffer sharing, in-place updates and views see what they always saw.
 */
export class InvariantSteps {
  /** Per step: whether its value depends on no graph input. */
  private readonly invariant: boolean[];
  private key = '';
  private readonly cached = new Map<number, Storage>();
  private cachedBytes = 0;
  /** How many steps the current (or last) run wrote back instead of computing. */
  replayed = 0;

  constructor(plan: Plan) {
    const { nodes } = plan.graph;
    const free: boolean[] = new Array(nodes.length);
    for (const node of nodes) free[node.id] = node.op !== 'input' && node.inputs.every((i) => free[i]);
    this.invariant = plan.steps.map((s) => free[s.node]!);
  }

  /** Bytes held by the copies (counted against the memory budget with the constants). */
  get bytes(): number {
    return this.cachedBytes;
  }

  /** Starts a run at these symbol values (`bindingsKey`): copies made at other values are dropped. */
  begin(key: string): void {
    this.replayed = 0;
    if (key === this.key) return;
    this.key = key;
    this.cached.clear();
    this.cachedBytes = 0;
  }

  /** Writes step `step`'s kept value into `out`; false when the step must run (not invariant, or not kept yet). */
  replay(step: number, out: Storage): boolean {
    const kept = this.cached.get(step);
    if (!kept || kept.length !== out.length) return false;
    out.set(kept);
    this.replayed++;
    return true;
  }

  /** After an invariant step ran: keeps a copy of what it wrote, while the budget allows. */
  keep(step: number, out: Storage): void {
    if (!this.invariant[step] || this.cached.has(step) || this.cachedBytes + out.byteLength > INVARIANT_CACHE_BYTES) return;
    this.cached.set(step, out.slice());
    this.cachedBytes += out.byteLength;
  }
}

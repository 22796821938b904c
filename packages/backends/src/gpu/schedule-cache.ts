import type { DimBindings } from '@loom/graph';

/**
 * What a run renders once per set of symbol values (launches, passes, compiled kernels), kept for
 * the last few sets: a decoder alternates between a prefill length and one token, and a growing
 * sequence visits each length once. Least recently used first out; `forget` frees what an evicted
 * entry holds.
 */
export class ScheduleCache<S> {
  private readonly entries = new Map<string, S>();

  constructor(
    private readonly capacity: number,
    private readonly forget: (schedule: S) => void = () => {},
  ) {}

  /** The schedule for `bindings`, made by `make` when it is not cached. */
  async get(bindings: DimBindings, make: () => S | Promise<S>): Promise<S> {
    const key = [...bindings].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(',');
    const cached = this.entries.get(key);
    if (cached !== undefined) {
      // most recently used last
      this.entries.delete(key);
      this.entries.set(key, cached);
      return cached;
    }
    const made = await make();
    this.entries.set(key, made);
    if (this.entries.size > this.capacity) {
      const [oldest, schedule] = this.entries.entries().next().value!;
      this.entries.delete(oldest);
      this.forget(schedule);
    }
    return made;
  }

  /** Drops every schedule (without `forget`: the caller frees what they hold). */
  clear(): void {
    this.entries.clear();
  }
}

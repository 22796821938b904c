import { InputError, type NDArray } from '@loom/graph';

/**
 * Values that persist between runs of prepared models (KV caches): a graph input and output of the
 * same name. Share one store between a prefill and a decode model so they see the same cache.
 * Backends with device memory keep their own copies and sync through their own store type.
 */
export class StateStore {
  private readonly values = new Map<string, NDArray>();
  /** Arrays of states cleared with `reuse`, by name, until a state of the same name, dtype and shape takes one. */
  private readonly spare = new Map<string, NDArray>();
  /** Told when the store drops everything (a `clear` without `reuse`): device copies go too (device-states.ts). */
  private readonly dropListeners = new Set<() => void>();

  get(name: string): NDArray | undefined {
    return this.values.get(name);
  }

  set(name: string, value: NDArray): void {
    this.values.set(name, value);
  }

  /** The state `name`, created as zeros of `shape` if absent; an existing one of another shape is an error. */
  ensure(name: string, dtype: NDArray['dtype'], shape: readonly number[], zeros: (size: number) => NDArray['data']): NDArray {
    const existing = this.values.get(name);
    if (existing) {
      if (existing.shape.length !== shape.length || existing.shape.some((d, i) => d !== shape[i])) {
        throw new InputError(`state '${name}' holds shape [${existing.shape.join(', ')}] but this run needs [${shape.join(', ')}]; clear the state first`);
      }
      return existing;
    }
    const spare = this.spare.get(name);
    this.spare.delete(name);
    if (spare && spare.dtype === dtype && spare.shape.length === shape.length && spare.shape.every((d, i) => d === shape[i])) {
      spare.data.fill(0);
      this.values.set(name, spare);
      return spare;
    }
    const created: NDArray = { dtype, shape: [...shape], data: zeros(shape.reduce((p, d) => p * d, 1)) };
    this.values.set(name, created);
    return created;
  }

  /**
   * Forgets every state. With `reuse` (a new prompt on the same decoder) their arrays are kept, and
   * the next `ensure` of the same name, dtype and shape zeroes one instead of allocating: GPT-2
   * small's caches are 75 MB, whose fresh pages cost more to fault in than to clear. Without it the
   * models prepared with this store free their device copies too (a decoder kept idle holds none).
   */
  clear(options: { reuse?: boolean } = {}): void {
    this.spare.clear();
    if (options.reuse) for (const [name, value] of this.values) this.spare.set(name, value);
    this.values.clear();
    if (!options.reuse) for (const listener of this.dropListeners) listener();
  }

  /**
   * Calls `listener` at each `clear` without `reuse`; returns the call that stops it. (So a clear
   * while a run of a model on this store is in flight is not supported: its device copies go.)
   */
  onDrop(listener: () => void): () => void {
    this.dropListeners.add(listener);
    return () => this.dropListeners.delete(listener);
  }

  get names(): string[] {
    return [...this.values.keys()];
  }
}

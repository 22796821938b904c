import { InputError, type DType, type NDArray } from '@loom/graph';
import { isStatePlaceholder, sameShape, statePlaceholder } from '../state-placeholder.ts';
import type { StateStore } from '../state-store.ts';
import type { GlRuntime, GlTensor } from './runtime.ts';

/**
 * GPU copies of the states (KV caches) of one StateStore in one GL context, shared by every model
 * prepared with that store, so a prefill and a decode model update the same cache textures.
 *
 * The store holds a placeholder for each state that lives on the GPU (reading its `data` throws;
 * download it with `WebGlModel.readState`). When the store has no value for a state (first run, or
 * after `store.clear()`), the next run starts it from zeros; a value put into the store by other
 * code is uploaded. A run never writes into the texture it reads: cache_update draws a new one, and
 * `update` swaps it in after the run.
 */
interface GlState {
  tensor: GlTensor;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly placeholder: NDArray;
}

export class GlStates {
  private readonly entries = new Map<string, GlState>();
  private users = 0;

  private constructor(
    private readonly runtime: GlRuntime,
    private readonly store: StateStore,
  ) {}

  private static readonly byStore = new WeakMap<StateStore, WeakMap<GlRuntime, GlStates>>();

  /** The GL states of `store` on `runtime`; call `release()` once per `acquire()`. */
  static acquire(runtime: GlRuntime, store: StateStore): GlStates {
    let perRuntime = GlStates.byStore.get(store);
    if (!perRuntime) GlStates.byStore.set(store, (perRuntime = new WeakMap()));
    let states = perRuntime.get(runtime);
    if (!states) perRuntime.set(runtime, (states = new GlStates(runtime, store)));
    states.users++;
    return states;
  }

  /** Drops a user; the last one frees the state textures (their contents are lost). */
  release(): void {
    if (--this.users > 0) return;
    for (const s of this.entries.values()) this.runtime.release(s.tensor);
    this.entries.clear();
  }

  get(name: string): { tensor: GlTensor; dtype: DType; shape: readonly number[] } | undefined {
    const s = this.entries.get(name);
    return s && this.store.get(name) === s.placeholder ? s : undefined;
  }

  /**
   * The texture state `name` holds for this run: the current one, or a fed or host-stored value
   * uploaded, or zeros. `upload` turns host values into a texture of the run's shape.
   */
  current(name: string, dtype: DType, shape: readonly number[], fed: NDArray | undefined, upload: (data: Float32Array) => GlTensor): GlTensor {
    const stored = this.store.get(name);
    const entry = this.entries.get(name);
    const host = fed ?? (stored && !isStatePlaceholder(stored) ? stored : undefined);
    const current = entry !== undefined && stored === entry.placeholder;
    if (current && !host) {
      if (!sameShape(entry!.shape, shape)) throw new InputError(`state '${name}' holds shape [${entry!.shape.join(', ')}] but this run needs [${shape.join(', ')}]; clear the state first`);
      return entry!.tensor;
    }
    if (host && !sameShape(host.shape, shape)) {
      throw new InputError(`state '${name}': the value has shape [${host.shape.join(', ')}] but this run needs [${shape.join(', ')}]`);
    }
    const data = host ? Float32Array.from(host.data) : new Float32Array(shape.reduce((p, d) => p * d, 1));
    this.update(name, dtype, shape, upload(data));
    return this.entries.get(name)!.tensor;
  }

  /** Makes `tensor` (held by the caller, retained here) the state's value after a run. */
  update(name: string, dtype: DType, shape: readonly number[], tensor: GlTensor): void {
    const entry = this.entries.get(name);
    if (entry?.tensor === tensor) return;
    if (entry && sameShape(entry.shape, shape)) {
      this.runtime.release(entry.tensor);
      entry.tensor = tensor;
    } else {
      if (entry) this.runtime.release(entry.tensor);
      this.entries.set(name, { tensor, dtype, shape: [...shape], placeholder: statePlaceholder(name, dtype, shape, 'WebGlModel.readState') });
    }
    this.store.set(name, this.entries.get(name)!.placeholder);
  }
}

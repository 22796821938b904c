import { InputError, type DType, type NDArray } from '@loom/graph';
import { isStatePlaceholder, sameShape, statePlaceholder } from '../state-placeholder.ts';
import type { StateStore } from '../state-store.ts';

/**
 * Device copies of the states (KV caches) of one StateStore on one device, shared by every model
 * prepared with that store, so that a prefill and a decode model update the same cache.
 *
 * The store holds a placeholder for each state that lives on the device: reading its `data` throws
 * (download it with the model's `readState`). When the store has no value for a state (first run,
 * or after `store.clear()`), the next run starts it from zeros; a value put into the store by other
 * code, or fed to the run, is uploaded. `store.clear()` also frees the device copies (a decoder kept
 * idle holds no caches); `clear({ reuse: true })`, a new prompt, keeps them to be zeroed and reused.
 */

/** How a device keeps a state: a WebGPU buffer, a WebGL texture. */
export interface StateMemory<H> {
  /**
   * A device copy of state `name` ([shape] of dtype) holding `data`, or zeros when undefined.
   * `previous`, when given, has the same shape and is no longer wanted: reuse it or free it.
   */
  write(name: string, dtype: DType, shape: readonly number[], data: Float32Array | Int32Array | undefined, previous: H | undefined): Promise<H>;
  free(handle: H): void;
}

interface Entry<H> {
  handle: H;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly placeholder: NDArray;
}

export class DeviceStates<H> {
  private readonly entries = new Map<string, Entry<H>>();
  private users = 0;
  /** Stops listening to the store's drops (set while there are users). */
  private stopListening: (() => void) | undefined;
  /** Bumped whenever a state's handle changes, so that what was bound to the old one is bound again. */
  version = 0;

  private constructor(
    private readonly store: StateStore,
    private readonly memory: StateMemory<H>,
    /** Names the download in the placeholder's message, e.g. "WebGpuModel.readState". */
    private readonly readWith: string,
  ) {}

  private static readonly byStore = new WeakMap<StateStore, WeakMap<object, DeviceStates<unknown>>>();

  /** The states of `store` on `device` (any object that identifies it); call `release()` once per `acquire()`. */
  static acquire<H>(device: object, store: StateStore, memory: StateMemory<H>, readWith: string): DeviceStates<H> {
    let perDevice = DeviceStates.byStore.get(store);
    if (!perDevice) DeviceStates.byStore.set(store, (perDevice = new WeakMap()));
    let states = perDevice.get(device) as DeviceStates<H> | undefined;
    if (!states) perDevice.set(device, (states = new DeviceStates(store, memory, readWith)));
    if (states.users++ === 0) {
      const s = states;
      s.stopListening = store.onDrop(() => s.freeAll());
    }
    return states;
  }

  /** Drops a user; the last one frees every state's device copy (their contents are lost). */
  release(): void {
    if (--this.users > 0) return;
    this.stopListening?.();
    this.stopListening = undefined;
    this.freeAll();
  }

  /** Frees every device copy: the store dropped its states (`clear()`), or the last user went. */
  private freeAll(): void {
    for (const e of this.entries.values()) this.memory.free(e.handle);
    this.entries.clear();
    this.version++;
  }

  /** State `name` on the device, when the store still holds its placeholder (not another value, not cleared). */
  held(name: string): { readonly handle: H; readonly dtype: DType; readonly shape: readonly number[] } | undefined {
    const e = this.entries.get(name);
    return e && this.store.get(name) === e.placeholder ? e : undefined;
  }

  /**
   * The device copy state `name` has for a run that needs `shape`: the current one, or `fed` (or a
   * value put into the store) uploaded, or zeros.
   */
  async forRun(name: string, dtype: DType, shape: readonly number[], fed: NDArray | undefined): Promise<H> {
    const stored = this.store.get(name);
    const entry = this.entries.get(name);
    const host = fed ?? (stored && !isStatePlaceholder(stored) ? stored : undefined);
    if (host && !sameShape(host.shape, shape)) {
      throw new InputError(`state '${name}': the value has shape [${host.shape.join(', ')}] but this run needs [${shape.join(', ')}]`);
    }
    if (entry && stored === entry.placeholder && !host) {
      if (!sameShape(entry.shape, shape)) throw new InputError(`state '${name}' holds shape [${entry.shape.join(', ')}] but this run needs [${shape.join(', ')}]; clear the state first`);
      return entry.handle;
    }
    const data = host ? (host.dtype === 'i32' ? Int32Array.from(host.data) : Float32Array.from(host.data)) : undefined;
    const reuse = entry && sameShape(entry.shape, shape) ? entry.handle : undefined;
    if (entry && reuse === undefined) this.memory.free(entry.handle);
    const handle = await this.memory.write(name, dtype, shape, data, reuse);
    this.keep(name, dtype, shape, handle, entry);
    return handle;
  }

  /** After a run that drew the state's next value into a new copy (WebGL; WebGPU updates in place): the new copy is the state. */
  replace(name: string, dtype: DType, shape: readonly number[], handle: H): void {
    const entry = this.entries.get(name);
    if (entry?.handle === handle) return;
    if (entry) this.memory.free(entry.handle);
    this.keep(name, dtype, shape, handle, entry);
  }

  private keep(name: string, dtype: DType, shape: readonly number[], handle: H, entry: Entry<H> | undefined): void {
    if (entry && sameShape(entry.shape, shape)) {
      if (entry.handle !== handle) this.version++;
      entry.handle = handle;
    } else {
      this.entries.set(name, { handle, dtype, shape: [...shape], placeholder: statePlaceholder(name, dtype, shape, this.readWith) });
      this.version++;
    }
    this.store.set(name, this.entries.get(name)!.placeholder);
  }
}

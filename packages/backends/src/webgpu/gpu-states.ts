import { InputError, type DType, type NDArray } from '@loom/graph';
import { isStatePlaceholder, sameShape, statePlaceholder } from '../state-placeholder.ts';
import type { StateStore } from '../state-store.ts';
import type { GpuRuntime } from './runtime.ts';
import { BufferUsage } from './runtime.ts';

/**
 * GPU copies of the states (KV caches) of one StateStore on one device, shared by every model
 * prepared with that store, so a prefill and a decode model update the same cache buffers.
 *
 * The store itself holds a placeholder for each state that lives on the GPU: reading its `data`
 * throws (download it with `WebGpuModel.readState`). When the store has no value for a state
 * (first run, or after `store.clear()`), the next run starts it from zeros; a value put into the
 * store by other code is uploaded.
 */
export interface GpuState {
  readonly buffer: GPUBuffer;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly placeholder: NDArray;
}

export class GpuStates {
  private readonly entries = new Map<string, GpuState>();
  private users = 0;
  /** Bumped whenever a state buffer is replaced, so bind groups that used the old one are rebuilt. */
  version = 0;

  private constructor(
    private readonly runtime: GpuRuntime,
    private readonly store: StateStore,
  ) {}

  private static readonly byStore = new WeakMap<StateStore, WeakMap<GpuRuntime, GpuStates>>();

  /** The GPU states of `store` on `runtime`; call `release()` once per `acquire()`. */
  static acquire(runtime: GpuRuntime, store: StateStore): GpuStates {
    let perRuntime = GpuStates.byStore.get(store);
    if (!perRuntime) GpuStates.byStore.set(store, (perRuntime = new WeakMap()));
    let states = perRuntime.get(runtime);
    if (!states) perRuntime.set(runtime, (states = new GpuStates(runtime, store)));
    states.users++;
    return states;
  }

  /** Drops a user; the last one destroys the state buffers (their contents are lost). */
  release(): void {
    if (--this.users > 0) return;
    for (const s of this.entries.values()) this.runtime.destroyBuffer(s.buffer);
    this.entries.clear();
    this.version++;
  }

  get(name: string): GpuState | undefined {
    return this.entries.get(name);
  }

  /**
   * Makes state `name` current on the GPU for a run: uploads a fed or host-stored value, or asks
   * for zeros (returned as `clear: true`, done by the caller's command encoder).
   */
  async prepare(name: string, dtype: DType, shape: readonly number[], fed: NDArray | undefined): Promise<{ state: GpuState; clear: boolean }> {
    const stored = this.store.get(name);
    let entry = this.entries.get(name);
    const host = fed ?? (stored && !isStatePlaceholder(stored) ? stored : undefined);
    const current = entry !== undefined && stored === entry.placeholder;
    if (current && !host && !sameShape(entry!.shape, shape)) {
      throw new InputError(`state '${name}' holds shape [${entry!.shape.join(', ')}] but this run needs [${shape.join(', ')}]; clear the state first`);
    }
    if (host && !sameShape(host.shape, shape)) {
      throw new InputError(`state '${name}': the value has shape [${host.shape.join(', ')}] but this run needs [${shape.join(', ')}]`);
    }
    if (!entry || !sameShape(entry.shape, shape)) {
      if (entry) this.runtime.destroyBuffer(entry.buffer);
      const size = Math.max(16, shape.reduce((p, d) => p * d, 1) * 4);
      const [buffer] = await this.runtime.createBuffers([{ size, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC, label: `state '${name}'` }]);
      entry = { buffer: buffer!, dtype, shape: [...shape], placeholder: statePlaceholder(name, dtype, shape, 'WebGpuModel.readState') };
      this.entries.set(name, entry);
      this.version++;
    }
    this.store.set(name, entry.placeholder);
    if (host) {
      const data = host.dtype === 'i32' ? Int32Array.from(host.data) : Float32Array.from(host.data);
      if (data.byteLength > 0) this.runtime.device.queue.writeBuffer(entry.buffer, 0, data as unknown as GPUAllowSharedBufferSource);
      return { state: entry, clear: false };
    }
    return { state: entry, clear: !current };
  }
}

/** StateStore: states created as zeros, shapes checked, and arrays reused after clear({ reuse }). */
import { describe, expect, it } from 'vitest';
import { StateStore } from '../src/index.ts';

const zeros = (n: number) => new Float32Array(n);

describe('StateStore', () => {
  it('creates a state as zeros once, and refuses another shape under the same name', () => {
    const store = new StateStore();
    const a = store.ensure('k', 'f32', [2, 3], zeros);
    expect(Array.from(a.data)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(store.ensure('k', 'f32', [2, 3], zeros)).toBe(a);
    expect(() => store.ensure('k', 'f32', [3, 2], zeros)).toThrow(/state 'k' holds shape \[2, 3\] but this run needs \[3, 2\]; clear the state first/);
  });

  it('after clear({ reuse }) the same name, dtype and shape takes the old array, zeroed; anything else gets a new one', () => {
    const store = new StateStore();
    const k = store.ensure('k', 'f32', [4], zeros);
    const v = store.ensure('v', 'f32', [4], zeros);
    k.data.fill(7);
    v.data.fill(7);
    store.clear({ reuse: true });
    expect(store.get('k')).toBeUndefined();
    const k2 = store.ensure('k', 'f32', [4], zeros);
    expect(k2.data).toBe(k.data);
    expect(Array.from(k2.data)).toEqual([0, 0, 0, 0]);
    const v2 = store.ensure('v', 'f32', [2, 2], zeros); // another shape: a new array, the old one untouched
    expect(v2.data).not.toBe(v.data);
    expect(Array.from(v.data)).toEqual([7, 7, 7, 7]);
    store.clear({ reuse: true });
    expect(store.ensure('k', 'i32', [4], (n) => new Int32Array(n)).data).toBeInstanceOf(Int32Array); // another dtype: a new array
  });

  it('a plain clear keeps nothing for reuse', () => {
    const store = new StateStore();
    const k = store.ensure('k', 'f32', [4], zeros);
    store.clear({ reuse: true });
    store.clear();
    expect(store.ensure('k', 'f32', [4], zeros).data).not.toBe(k.data);
  });
});

describe('device copies of states (DeviceStates)', () => {
  /** A device that counts the copies it holds. */
  function fakeDevice() {
    const held = new Set<number>();
    let next = 0;
    const memory = {
      // a copy no longer wanted and of the same shape is reused, as the real devices do
      write: async (_name: string, _dtype: string, _shape: readonly number[], _data: unknown, previous: number | undefined) => {
        if (previous !== undefined) return previous;
        held.add(++next);
        return next;
      },
      free: (handle: number) => held.delete(handle),
    };
    return { memory, held };
  }

  it('a clear() frees them (a decoder kept idle holds no caches on the GPU); clear({ reuse }) keeps them for the next prompt; the last user frees them', async () => {
    const { DeviceStates } = await import('../src/gpu/device-states.ts');
    const store = new StateStore();
    const { memory, held } = fakeDevice();
    const device = {};
    const states = DeviceStates.acquire(device, store, memory, 'test');
    const first = await states.forRun('k', 'f32', [2, 3], undefined);
    await states.forRun('v', 'f32', [2, 3], undefined);
    expect(held.size).toBe(2);
    store.clear({ reuse: true });
    expect(held.size).toBe(2); // kept: the next prefill zeroes and reuses them
    expect(await states.forRun('k', 'f32', [2, 3], undefined)).toBe(first);
    store.clear();
    expect(held.size).toBe(0);
    await states.forRun('k', 'f32', [2, 3], undefined);
    expect(held.size).toBe(1);
    // a second model on the same store: only the last release frees, and a released store stops listening
    const again = DeviceStates.acquire(device, store, memory, 'test');
    expect(again).toBe(states);
    states.release();
    expect(held.size).toBe(1);
    again.release();
    expect(held.size).toBe(0);
    const fresh = DeviceStates.acquire(device, store, memory, 'test');
    await fresh.forRun('k', 'f32', [2, 3], undefined);
    store.clear();
    expect(held.size).toBe(0);
    fresh.release();
  });
});

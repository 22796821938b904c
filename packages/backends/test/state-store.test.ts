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

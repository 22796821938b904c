import { LoomError, type DType, type NDArray } from '@loom/graph';

/**
 * What a StateStore holds for a state that lives in device memory (webgpu buffers, webgl textures):
 * an NDArray whose `data` throws, naming how to download it. Shared by GpuStates and GlStates.
 */
const PLACEHOLDERS = new WeakSet<object>();

/** A placeholder for state `name`; `readWith` names the download, e.g. "WebGpuModel.readState". */
export function statePlaceholder(name: string, dtype: DType, shape: readonly number[], readWith: string): NDArray {
  const value = {
    dtype,
    shape: [...shape],
    get data(): never {
      throw new LoomError('state-on-gpu', `state '${name}' lives on the GPU; read it with ${readWith}('${name}')`);
    },
  } as NDArray;
  PLACEHOLDERS.add(value);
  return value;
}

/** Whether a store's value is a placeholder (a stale one, from released states, reads as absent). */
export function isStatePlaceholder(value: object): boolean {
  return PLACEHOLDERS.has(value);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

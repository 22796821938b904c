import { readFileSync } from 'node:fs';
import { readSafetensors, type NDArray } from '@loom/graph';

export const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;

export function fixtureTensors(name: string): Map<string, NDArray> {
  return readSafetensors(new Uint8Array(readFileSync(FIXTURES + name))).tensors;
}

export function fixtureJson<T = any>(name: string): T {
  return JSON.parse(readFileSync(FIXTURES + name, 'utf8')) as T;
}

export function tensor(map: ReadonlyMap<string, NDArray>, name: string): NDArray {
  const t = map.get(name);
  if (!t) throw new Error(`fixture tensor '${name}' is missing`);
  return t;
}

/** Largest |a - b| over the positions `keep(index along axes before the last)` says to compare. */
export function maxAbsDiffRows(a: NDArray, b: NDArray, keep: (row: number) => boolean): number {
  const width = a.shape[a.shape.length - 1]!;
  let m = 0;
  for (let row = 0; row * width < a.data.length; row++) {
    if (!keep(row)) continue;
    for (let j = row * width; j < (row + 1) * width; j++) m = Math.max(m, Math.abs(a.data[j]! - b.data[j]!));
  }
  return m;
}

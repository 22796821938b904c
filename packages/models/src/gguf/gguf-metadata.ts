/** Reading GGUF metadata values as the model configs need them, and the transpose the loaders share. */
import type { NDArray } from '@loom/graph';
import { GgufError, type GgufFile } from './read-gguf.ts';

/** A metadata value as a positive integer (or the fallback when absent), else a GgufError naming the key. */
export function ggufInteger(file: GgufFile, key: string, fallback?: number): number {
  const value = file.metadata[key];
  if (value === undefined && fallback !== undefined) return fallback;
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) throw new GgufError(`${file.path}: metadata ${key} must be a positive integer, got ${String(value)}`);
  return n;
}

/** A metadata value as a positive number (or the fallback when absent). */
export function ggufReal(file: GgufFile, key: string, fallback: number): number {
  const value = file.metadata[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) throw new GgufError(`${file.path}: metadata ${key} must be a positive number, got ${String(value)}`);
  return value;
}

/** A matrix [rows, cols] as [cols, rows]: GGUF (and nn.Linear) store [out, in], Loom [in, out]. */
export function transposed(t: NDArray): NDArray {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(t.data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c]!;
  return { dtype: 'f32', shape: [cols, rows], data: out };
}

/** Reading GGUF metadata values as the model configs need them. */
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

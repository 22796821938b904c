/**
 * File-system helpers for safetensors (Node only; import them from `@loom/graph/node` so that the main
 * entry point stays browser-safe).
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { NDArray } from '../ndarray.ts';
import { readSafetensors, SafetensorsError, writeSafetensors, type SafetensorsFile } from './safetensors.ts';

/** Reads and validates a safetensors file; errors name the path. Only regular files (a FIFO would block, a device never end). */
export async function readSafetensorsFile(path: string): Promise<SafetensorsFile> {
  if (!(await stat(path)).isFile()) throw new SafetensorsError(`${path}: not a regular file (a directory, FIFO or device); safetensors are read from regular files only`);
  const bytes = await readFile(path);
  return readSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { source: path });
}

/**
 * Writes a safetensors file without ever leaving a partial one at `path`: the bytes go to a temporary
 * file in the same folder (so the rename stays on one file system), are flushed, and the temporary
 * file is renamed over `path`. On any failure `path` keeps its old contents and the temporary file
 * is removed.
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: ReadonlyMap<string, NDArray> | Readonly<Record<string, NDArray>>,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const bytes = writeSafetensors(tensors, metadata);
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const file = await open(temp, 'wx');
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  }
}

import { readFileSync } from 'node:fs';
import { readSafetensors, type NDArray } from '@loom/graph';
import { FileError } from '../errors.ts';

/** Reads a file the user named; a missing or unreadable file is a FileError naming it. */
export function readUserFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new FileError(`cannot read ${what} '${path}': ${why}`);
  }
}

/** The tensors of a safetensors file; a corrupt file is a SafetensorsError naming the file. */
export function readCheckpoint(path: string): Map<string, NDArray> {
  const bytes = readUserFile(path, 'weights file');
  return readSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { source: path }).tensors;
}

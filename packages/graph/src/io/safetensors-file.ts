/**
 * File-system helpers for safetensors (Node only; import them from `@loom/graph/node` so that the main
 * entry point stays browser-safe).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { NDArray } from '../ndarray.ts';
import { MAX_HEADER_BYTES, parseSafetensorsHeader } from './safetensors-header.ts';
import { decodeTensorBytes, SafetensorsError, writeSafetensors, type SafetensorsFile } from './safetensors.ts';
import { writeFileAtomic, type WriteFileAtomicOptions } from './write-file-atomic.ts';

export interface ReadSafetensorsFileOptions {
  /** Read only these tensors (the header is still checked whole); default all. */
  readonly names?: ReadonlySet<string>;
  /** Called after each tensor with the bytes of tensor data read so far and the total to read. */
  readonly onProgress?: (bytesRead: number, bytesTotal: number) => void;
}

/**
 * Reads and validates a safetensors file; errors name the path. Only regular files (a FIFO would
 * block, a device never end). The header is read and checked first, then each tensor by its file
 * offset into a buffer of its own: the file is never read into one buffer, so checkpoints past
 * 2 GiB (gpt2-large and gpt2-xl in float32: 3.1 and 6.2 GB) load like small ones.
 */
export async function readSafetensorsFile(path: string, options: ReadSafetensorsFileOptions = {}): Promise<SafetensorsFile> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot open: ${(e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new SafetensorsError(`${path}: not a regular file (a directory, FIFO or device); safetensors are read from regular files only`);
    return readSafetensorsFd(fd, st.size, path, options);
  } finally {
    closeSync(fd);
  }
}

/** The safetensors file open as `fd` (of `size` bytes), read header first and then tensor by tensor at their offsets. */
export function readSafetensorsFd(fd: number, size: number, source: string, options: ReadSafetensorsFileOptions = {}): SafetensorsFile {
  const prefix = readBytes(fd, Math.min(8, size), 0);
  let headerEnd = prefix.length;
  if (prefix.length === 8) {
    const length = new DataView(prefix.buffer).getBigUint64(0, true);
    if (length > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(`${source}: header length ${length} (at offset 0) exceeds the ${MAX_HEADER_BYTES}-byte limit`, undefined, 0);
    headerEnd = Math.min(size, 8 + Number(length));
  }
  const { entries, metadata, dataStart } = parseSafetensorsHeader(readBytes(fd, headerEnd, 0), source, size);
  const tensors = new Map<string, NDArray>();
  const wanted = entries.filter((entry) => !options.names || options.names.has(entry.name));
  const total = wanted.reduce((n, entry) => n + (entry.end - entry.begin), 0);
  let read = 0;
  for (const entry of wanted) {
    tensors.set(entry.name, decodeTensorBytes(readBytes(fd, entry.end - entry.begin, dataStart + entry.begin), dataStart, entry, source));
    read += entry.end - entry.begin;
    options.onProgress?.(read, total);
  }
  return { tensors, metadata };
}

/** `length` bytes at `position`, into a buffer of their own (typed arrays over it are aligned); short only at the end of the file. */
function readBytes(fd: number, length: number, position: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    // readSync takes at most 2 GiB per call
    const n = readSync(fd, bytes, done, Math.min(length - done, 2 ** 30), position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? bytes : bytes.subarray(0, done);
}

/** Writes a safetensors file atomically (see writeFileAtomic; by default replacing an existing file). */
export async function writeSafetensorsFile(
  path: string,
  tensors: ReadonlyMap<string, NDArray> | Readonly<Record<string, NDArray>>,
  metadata?: Readonly<Record<string, string>>,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  await writeFileAtomic(path, writeSafetensors(tensors, metadata), options);
}

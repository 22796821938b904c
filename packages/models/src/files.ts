import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import type { NDArray } from '@loom/graph';
import { readSafetensorsFd } from '@loom/graph/node';
import { parseJsonText } from './config/parse-config.ts';
import { FileError } from './errors.ts';

/** What a non-regular file is, for the message that refuses it. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'it is a directory';
  if (st.isFIFO()) return 'it is a FIFO (named pipe), not a regular file';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'it is a device, not a regular file';
  if (st.isSocket()) return 'it is a socket, not a regular file';
  return 'it is not a regular file';
}

/**
 * Opens a file the user named for reading: only a regular file (a FIFO would block forever, a device
 * such as /dev/zero never ends). Opened non-blocking so that even a FIFO returns at once.
 */
function openRegular(path: string, what: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new FileError(`cannot read ${what} '${path}': ${why}`);
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new FileError(`cannot read ${what} '${path}': ${kindOf(st)}`);
  }
  return { fd, size: st.size };
}

function readAt(fd: number, length: number, position: number): Buffer {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

/** A byte count for messages: `300.0 MiB`. */
function mebibytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes % 2 ** 20 === 0 ? 0 : 1)} MiB`;
}

/**
 * Reads a file the user named; a missing, unreadable or non-regular file is a FileError naming it,
 * and so is one larger than `maxBytes` (a tokenizer file is a few MB: a huge one is a mistake, not
 * something to read into memory).
 */
export function readUserFile(path: string, what: string, maxBytes = Infinity): Buffer {
  const { fd, size } = openRegular(path, what);
  try {
    if (size > maxBytes) throw new FileError(`cannot read ${what} '${path}': it is ${mebibytes(size)}, more than the ${mebibytes(maxBytes)} Loom reads for a ${what}`);
    return readAt(fd, size, 0);
  } finally {
    closeSync(fd);
  }
}

/** A JSON file the user named (a config, a tokenizer); bad JSON is a ConfigError naming the file. */
export function readUserJson(path: string, what: string, maxBytes = Infinity): unknown {
  return parseJsonText(readUserFile(path, what, maxBytes).toString('utf8'), path);
}

/**
 * The tensors of a safetensors file; a corrupt file is a SafetensorsError naming the file and the
 * offset. The header is read and checked first (its length against the file's size, so a bad length
 * costs nothing), then each tensor by its offset: never the whole file into one buffer, so
 * checkpoints past 2 GiB load.
 */
export function readCheckpoint(path: string, onProgress?: (bytesRead: number, bytesTotal: number) => void): Map<string, NDArray> {
  const { fd, size } = openRegular(path, 'weights file');
  try {
    return readSafetensorsFd(fd, size, path, onProgress ? { onProgress } : {}).tensors;
  } finally {
    closeSync(fd);
  }
}

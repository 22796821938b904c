/**
 * Publishing a file whole or not at all (Node only; exported from `@loom/graph/node`).
 */
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { link, lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LoomError } from '../errors.ts';

/** A file's contents: one array, or chunks in order (written one at a time, never joined). */
export type FileContents = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export interface WriteFileAtomicOptions {
  /**
   * Whether an existing regular file at `path` may be replaced (by an atomic rename). With `false`
   * an existing `path`, even one that appeared while the bytes were being written, is an
   * OutputExistsError and stays as it was. Either way a symbolic link, directory or device at `path`
   * is refused: Loom never writes through or over those. Default true.
   */
  readonly replace?: boolean;
}

/** The file to write exists and may not be replaced, or is a link or not a regular file. */
export class OutputExistsError extends LoomError {
  constructor(
    readonly path: string,
    message: string,
    /** True for a regular file, which `replace: true` would have replaced; false for a link, directory or device. */
    readonly replaceable: boolean,
  ) {
    super('output-exists', message);
  }
}

// fs.write takes at most 2 GiB per call; tensors past that are written in pieces
const MAX_WRITE_BYTES = 2 ** 30;

/**
 * Writes a file without ever leaving a partial one at `path`: the bytes go to a temporary file in
 * the same folder (so publishing stays on one file system), are flushed, and the temporary file is
 * then published at `path`: renamed over it with `replace`, else hard-linked to it, which fails
 * rather than replace a file that exists by then (Node has no renameat2 RENAME_NOREPLACE). On any
 * failure `path` keeps its old contents and the temporary file is removed.
 */
export async function writeFileAtomic(path: string, contents: FileContents, options: WriteFileAtomicOptions = {}): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const file = await open(temp, 'wx');
    try {
      await writeContents(file, contents);
      await file.sync();
    } finally {
      await file.close();
    }
    if (options.replace ?? true) await replaceWith(temp, path);
    else await publishNew(temp, path);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  }
}

async function writeContents(file: FileHandle, contents: FileContents): Promise<void> {
  const chunks = contents instanceof Uint8Array ? [contents] : contents;
  for await (const chunk of chunks) {
    for (let done = 0; done < chunk.length; ) {
      const { bytesWritten } = await file.write(chunk, done, Math.min(chunk.length - done, MAX_WRITE_BYTES));
      done += bytesWritten;
    }
  }
}

/** Renames `temp` over `path`, unless `path` has become a link or something other than a regular file. */
async function replaceWith(temp: string, path: string): Promise<void> {
  const special = specialFileError(path, await lstat(path).catch(() => undefined));
  if (special) throw special;
  await rename(temp, path);
}

/** Publishes `temp` at `path` only if nothing is there: link() never replaces (EEXIST). */
async function publishNew(temp: string, path: string): Promise<void> {
  try {
    await link(temp, path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') throw await existsError(path);
    if (!NO_HARD_LINKS.has(code)) throw e;
    // a file system without hard links (FAT, some network mounts): check, then rename; that leaves
    // a window of microseconds rather than the whole run
    if (await lstat(path).catch(() => undefined)) throw await existsError(path);
    await rename(temp, path);
    return;
  }
  // the bytes are published under `path`; the temporary name would only be clutter
  await unlink(temp).catch(() => undefined);
}

const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

async function existsError(path: string): Promise<OutputExistsError> {
  const st = await lstat(path).catch(() => undefined);
  return specialFileError(path, st) ?? new OutputExistsError(path, `'${path}' already exists; it was left as it is`, true);
}

/** Why Loom refuses to publish over what is at `path` whatever the options (nothing, or a regular file, is fine). */
function specialFileError(path: string, st: Stats | undefined): OutputExistsError | undefined {
  if (!st || st.isFile()) return undefined;
  if (st.isSymbolicLink()) return new OutputExistsError(path, `'${path}' is a symbolic link; Loom does not write through links (name the file itself)`, false);
  return new OutputExistsError(path, `'${path}' exists and is not a regular file (${st.isDirectory() ? 'a directory' : 'a device or other special file'})`, false);
}

import { lstatSync, statSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { OutputExistsError, writeFileAtomic, type FileContents } from '@loom/graph/node';
import { FileError } from '../errors.ts';

/**
 * Checks, before any work, that Loom may write `out`: nothing the user has is lost or written through.
 * - An existing `out` is replaced only with `force`, and only if it is a regular file: a symlink, a
 *   directory or a device (such as /dev/null) is refused, since a rename would replace it.
 * - `out` naming one of the inputs (the same file under any path) is refused, even with `force`.
 * The write itself then goes through writeOutputFile, which checks again as it publishes: a file
 * that appears at `out` during the work is not replaced without `force` either.
 */
export function checkOutputPath(out: string, inputs: readonly { path: string; option: string }[], force: boolean): void {
  let st: Stats;
  try {
    st = lstatSync(out);
  } catch {
    return; // a new file: the atomic writer reports a missing folder or a permission problem
  }
  if (st.isSymbolicLink()) throw new FileError(`--out '${out}' is a symbolic link; Loom does not write through links (name the file itself)`);
  if (!st.isFile()) throw new FileError(`--out '${out}' exists and is not a regular file (${st.isDirectory() ? 'a directory' : 'a device or other special file'})`);
  for (const input of inputs) {
    let other: Stats | undefined;
    try {
      other = statSync(input.path);
    } catch {
      other = undefined;
    }
    if (other && other.dev === st.dev && other.ino === st.ino) {
      throw new FileError(`--out '${out}' is the ${input.option} file '${resolve(input.path)}'; write the output elsewhere`);
    }
  }
  if (!force) throw new FileError(`--out '${out}' already exists; pass --force to replace it`);
}

/**
 * Writes an output file that checkOutputPath allowed before the work, atomically (writeFileAtomic:
 * temporary file, fsync, then publish), so a
 * failed write leaves the old file as it was. Without `force` it is published only where no file is
 * by then, even one created while Loom worked; with `force` it replaces a regular file. Links,
 * directories and devices are refused either way. Errors are FileErrors naming the path.
 */
export async function writeOutputFile(path: string, contents: FileContents, force: boolean): Promise<void> {
  try {
    await writeFileAtomic(path, contents, { replace: force });
  } catch (e) {
    // checkOutputPath found nothing there before the work: this file appeared during it
    if (e instanceof OutputExistsError && e.replaceable) throw new FileError(`--out '${path}' appeared while Loom was working; it was left as it is; pass --force to replace it`);
    if (e instanceof OutputExistsError) throw new FileError(`--out ${e.message}`);
    throw new FileError(`cannot write '${path}': ${(e as Error).message}`);
  }
}

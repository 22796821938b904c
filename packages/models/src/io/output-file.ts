import { accessSync, constants, lstatSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { OutputExistsError, writeFileAtomic, type FileContents } from '@loom/graph/node';
import { FileError } from '../errors.ts';

/**
 * Checks, before any work, that Loom may write `out`: nothing the user has is lost or written through.
 * - A new `out` needs a folder that exists and that Loom may write in.
 * - An existing `out` is replaced only with `force`, and only if it is a regular file: a symlink, a
 *   directory or a device (such as /dev/null) is refused, since a rename would replace it.
 * - `out` naming one of the inputs (the same file under any path) is refused, even with `force`.
 * The write itself then goes through writeOutputFile, which checks again as it publishes: a file
 * that appears at `out` during the work is not replaced without `force` either. `named.label` is how
 * messages name the file (default `--out '<out>'`), `named.why` why an existing one would be replaced.
 */
export function checkOutputPath(out: string, inputs: readonly { path: string; option: string }[], force: boolean, named: { label?: string; why?: string } = {}): void {
  const label = named.label ?? `--out '${out}'`;
  let st: Stats;
  try {
    st = lstatSync(out);
  } catch {
    checkOutputFolder(out, label);
    return;
  }
  if (st.isSymbolicLink()) throw new FileError(`${label} is a symbolic link; Loom does not write through links (name the file itself)`);
  if (!st.isFile()) throw new FileError(`${label} exists and is not a regular file (${st.isDirectory() ? 'a directory' : 'a device or other special file'})`);
  for (const input of inputs) {
    let other: Stats | undefined;
    try {
      other = statSync(input.path);
    } catch {
      other = undefined;
    }
    if (other && other.dev === st.dev && other.ino === st.ino) {
      throw new FileError(`${label} is the ${input.option} file '${resolve(input.path)}'; write the output elsewhere`);
    }
  }
  if (!force) throw new FileError(`${label} already exists${named.why ? ` ${named.why}` : ''}; pass --force to replace it`);
}

/** The folder a new output file goes into: it must exist, be a folder, and take a new file (the atomic writer's temporary one). */
function checkOutputFolder(out: string, label: string): void {
  const folder = dirname(resolve(out));
  let st: Stats;
  try {
    st = statSync(folder);
  } catch (e) {
    throw new FileError(`cannot write ${label}: the folder '${folder}' ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${systemErrorText(e)})`}`);
  }
  if (!st.isDirectory()) throw new FileError(`cannot write ${label}: '${folder}' is not a folder`);
  try {
    accessSync(folder, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw new FileError(`cannot write ${label}: Loom may not create files in the folder '${folder}' (${systemErrorText(e)})`);
  }
}

/**
 * A system error as a message names it, without the paths Node puts in its text (which, for a
 * write, are the atomic writer's temporary file): `no space left on device (ENOSPC)`.
 */
export function systemErrorText(e: unknown): string {
  const err = e as NodeJS.ErrnoException | undefined;
  if (typeof err?.code !== 'string') return String(err?.message ?? e);
  const described = typeof err.errno === 'number' ? getSystemErrorMap().get(err.errno)?.[1] : undefined;
  return `${described ?? /^[A-Z0-9]+: ([^,]+)/.exec(String(err.message))?.[1] ?? err.message} (${err.code})`;
}

/**
 * Writes an output file that checkOutputPath allowed before the work, atomically (writeFileAtomic:
 * temporary file, fsync, then publish), so a
 * failed write leaves the old file as it was. Without `force` it is published only where no file is
 * by then, even one created while Loom worked; with `force` it replaces a regular file. Links,
 * directories and devices are refused either way. Errors are FileErrors naming the path (never the
 * temporary file's).
 */
export async function writeOutputFile(path: string, contents: FileContents, force: boolean): Promise<void> {
  try {
    await writeFileAtomic(path, contents, { replace: force });
  } catch (e) {
    // checkOutputPath found nothing there before the work: this file appeared during it
    if (e instanceof OutputExistsError && e.replaceable) throw new FileError(`--out '${path}' appeared while Loom was working; it was left as it is; pass --force to replace it`);
    if (e instanceof OutputExistsError) throw new FileError(`--out ${e.message}`);
    throw new FileError(`cannot write '${path}': ${systemErrorText(e)}`);
  }
}

import { LoomError } from '@loom/graph';
import { systemErrorText } from '../io/output-file.ts';
import { terminalProgress, type Progress } from './progress.ts';

/** Where the CLI writes: the process's streams, or buffers in tests. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** A progress bar for long work, only where stderr is a terminal (absent: no bar). */
  bar?(label: string, total: number, unit?: 'count' | 'bytes'): Progress;
}

export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  ...(process.stderr.isTTY ? { bar: (label: string, total: number, unit?: 'count' | 'bytes') => terminalProgress(process.stderr, label, total, unit) } : {}),
};

/** Standard output cannot be written (a full disk, an I/O error): the environment's fault, not a bug. */
export class StdoutError extends LoomError {
  constructor(message: string) {
    super('stdout', message);
  }
}

/** The reader of standard output has gone (`loom ... | head`): not an error, the command just stops. */
export class StdoutClosed extends Error {}

/**
 * A failed write to standard output as the CLI reports it: `cannot write to standard output: no
 * space left on device (ENOSPC)`; EPIPE is StdoutClosed. A failure without a system error code (a
 * bug in the writer) is returned as it is.
 */
export function stdoutWriteError(e: unknown): unknown {
  const err = e as NodeJS.ErrnoException | undefined;
  if (typeof err?.code !== 'string') return e;
  if (err.code === 'EPIPE') return new StdoutClosed('standard output was closed');
  return new StdoutError(`cannot write to standard output: ${systemErrorText(err)}`);
}

/**
 * `io` whose `out` turns a write that throws into stdoutWriteError's error, so that runCli reports it
 * in one line. (process.stdout reports most failures as an 'error' event instead: main.ts.)
 */
export function guardedIo(io: CliIo): CliIo {
  return {
    ...io,
    out(text) {
      try {
        io.out(text);
      } catch (e) {
        throw stdoutWriteError(e);
      }
    },
  };
}

/** The io a command runs with: without bars under --quiet. */
export function quietIo(io: CliIo, quiet: boolean | undefined): CliIo {
  return quiet ? { out: io.out, err: io.err } : io;
}

/**
 * A weights loader's progress callback drawing one bar (`loading weights`), or undefined without a
 * terminal; the bar starts with the first tensor and clears after the last.
 */
export function weightsProgress(io: CliIo): ((read: number, total: number) => void) | undefined {
  if (!io.bar) return undefined;
  let bar: Progress | undefined;
  return (read, total) => {
    bar ??= io.bar!('loading weights', total, 'bytes');
    bar.update(read);
    if (read >= total) bar.stop();
  };
}

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

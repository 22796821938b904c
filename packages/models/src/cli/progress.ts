import { SingleBar } from 'cli-progress';

/** Progress of one piece of long work: a bar on a terminal, nothing elsewhere. */
export interface Progress {
  update(done: number, detail?: string): void;
  /** Runs `write` (a line of the command's own output) with the bar out of the way, then redraws it. */
  interrupt(write: () => void): void;
  /** Clears the bar (the work's own output follows on a clean line). */
  stop(): void;
}

/** No bar (not a terminal, or --quiet). */
export const NO_PROGRESS: Progress = { update: () => undefined, interrupt: (write) => write(), stop: () => undefined };

/**
 * A progress bar on stderr (cli-progress): `label [=====-----] 3/10 detail`. Byte counts show in
 * MiB. Drawn at most every 100 ms; cleared on stop, so stdout and error lines stay clean.
 */
export function terminalProgress(stream: NodeJS.WriteStream, label: string, total: number, unit: 'count' | 'bytes' = 'count'): Progress {
  const scale = unit === 'bytes' ? 2 ** 20 : 1;
  const format = `${label} [{bar}] {value}/{total}${unit === 'bytes' ? ' MiB' : ''} {detail}`;
  const bar = new SingleBar({ format, stream, clearOnComplete: true, hideCursor: false, fps: 10, barsize: 24, etaBuffer: 20 });
  bar.start(Math.max(1, Math.round(total / scale)), 0, { detail: '' });
  return {
    update: (done, detail = '') => bar.update(Math.round(done / scale), { detail }),
    interrupt(write) {
      stream.clearLine(0);
      stream.cursorTo(0);
      write();
      bar.render();
    },
    stop: () => bar.stop(),
  };
}

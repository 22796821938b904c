/**
 * Thrown by a peer that cannot run on this machine (package missing, native or wasm binary not
 * loadable), so the benchmark can print the reason in its row instead of failing the run.
 */
export class PeerUnavailableError extends Error {
  constructor(
    readonly peer: string,
    reason: string,
  ) {
    super(`${peer} unavailable: ${reason}`);
    this.name = 'PeerUnavailableError';
  }
}

/** The first line of an error's message: enough for a table cell. */
export function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

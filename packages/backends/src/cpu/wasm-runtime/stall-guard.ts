/**
 * Decides whether a parallel call wakes the workers. On a quiet machine they take their share of
 * the chunks. When another process keeps a core busy, a worker runs only part of the time: it takes
 * few chunks, the caller waits whenever it is descheduled holding one, and while it spins between
 * calls it takes time from the caller's own core (three runnable threads on two cores). Decoding
 * makes hundreds of short calls per token, and then one thread is faster than two.
 *
 * The guard watches windows of calls: the workers' share of the chunks against their fair share,
 * and stalls (the caller waiting for the others longer than it worked). A window where the workers
 * did much less than their share, or stalled the caller several times, pauses them: the next calls
 * run on the caller alone for a while, twice as long each time a trial window fails again, and a
 * good window resets the pause. The workers sleep while paused, so the caller gets a core.
 */

/** A wait shorter than this is never a stall (waking a worker costs 50-150 us). */
const STALL_MIN_MS = 0.2;
/**
 * A window ends after WINDOW calls, or after WINDOW_MS once it has MIN_CALLS (prefill's products
 * take milliseconds each: a trial of 64 of them would cost a whole forward pass).
 */
const WINDOW = 64;
const MIN_CALLS = 8;
const WINDOW_MS = 20;
const STALLS = 3;
/** Workers doing less than this part of their fair share of the chunks in a window are not worth waking. */
const POOR_SHARE = 0.6;
/**
 * The first pause (the shortest), and the longest. A short first pause, because a window can look poor on a quiet
 * machine too (a VM's core stalls for a moment; the worker starts each call after the caller): at
 * 250 ms such a pause took a whole prefill onto one thread (GPT-2's q4 + int8 prefill, median of 5
 * alternated rounds: 324 ms against 221 ms without the guard, 230 ms with 50 ms), while under real
 * contention the pauses double quickly and two threads stayed as fast as one (pnpm bench --contended).
 */
const MIN_PAUSE_MS = 50;
const MAX_PAUSE_MS = 4000;

/** One call that used the workers. */
export interface ParallelCall {
  readonly threads: number;
  readonly chunks: number;
  /** Chunks the caller ran itself. */
  readonly mine: number;
  /** The caller's time running chunks, then waiting for the others'. */
  readonly ownMs: number;
  readonly waitMs: number;
}

export class StallGuard {
  private pausedUntil = 0;
  private pauseMs = MIN_PAUSE_MS;
  private calls = 0;
  private stalls = 0;
  private workerChunks = 0;
  private fairChunks = 0;
  private windowStart = 0;

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /** Whether the next call may use the workers (false while paused). */
  workersAllowed(): boolean {
    return this.clock() >= this.pausedUntil;
  }

  record(call: ParallelCall): void {
    const now = this.clock();
    if (this.calls === 0) this.windowStart = now - call.ownMs - call.waitMs;
    this.calls++;
    if (call.waitMs > Math.max(STALL_MIN_MS, call.ownMs)) this.stalls++;
    this.workerChunks += call.chunks - call.mine;
    this.fairChunks += (call.chunks * (call.threads - 1)) / call.threads;
    if (this.calls < WINDOW && (this.calls < MIN_CALLS || now - this.windowStart < WINDOW_MS)) return;
    const poor = this.stalls >= STALLS || this.workerChunks < POOR_SHARE * this.fairChunks;
    if (poor) {
      this.pausedUntil = now + this.pauseMs;
      this.pauseMs = Math.min(2 * this.pauseMs, MAX_PAUSE_MS);
    } else this.pauseMs = MIN_PAUSE_MS;
    this.calls = this.stalls = this.workerChunks = this.fairChunks = 0;
  }
}

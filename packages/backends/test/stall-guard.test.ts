import { describe, expect, it } from 'vitest';
import { StallGuard, type ParallelCall } from '../src/cpu/wasm-runtime/stall-guard.ts';

/** A guard on a clock the test moves; `calls(n, call)` records n calls 0.1 ms apart. */
function setup() {
  let now = 0;
  const guard = new StallGuard(() => now);
  const calls = (n: number, call: Partial<ParallelCall> = {}) => {
    for (let i = 0; i < n; i++) {
      now += 0.1;
      guard.record({ threads: 2, chunks: 8, mine: 4, ownMs: 0.05, waitMs: 0, ...call });
    }
  };
  return { guard, calls, advance: (ms: number) => (now += ms) };
}

describe('the stall guard', () => {
  it('keeps the workers while they take their share (a quiet machine)', () => {
    const { guard, calls } = setup();
    calls(1000, { mine: 5 }); // the workers take 3 of 8: 75% of their fair 4
    expect(guard.workersAllowed()).toBe(true);
  });

  it('pauses them after a window where they took little of their share, for longer each time the trial fails', () => {
    const { guard, calls, advance } = setup();
    calls(64, { mine: 7 }); // 1 of 8 chunks: a quarter of their share
    expect(guard.workersAllowed()).toBe(false);
    advance(49);
    expect(guard.workersAllowed()).toBe(false);
    advance(2);
    expect(guard.workersAllowed()).toBe(true);
    calls(64, { mine: 8 }); // the trial window fails: twice the pause
    advance(99);
    expect(guard.workersAllowed()).toBe(false);
    advance(2);
    calls(64, { mine: 4 }); // a good window: back to the first pause length next time
    expect(guard.workersAllowed()).toBe(true);
    calls(64, { mine: 8 });
    advance(51);
    expect(guard.workersAllowed()).toBe(true);
  });

  it('pauses them after several calls where the caller waited longer than it worked', () => {
    const { guard, calls } = setup();
    calls(61);
    calls(3, { ownMs: 0.5, waitMs: 3 });
    expect(guard.workersAllowed()).toBe(false);
  });

  it('judges a window of long calls (prefill products) by time, after a few calls', () => {
    const { guard, calls, advance } = setup();
    for (let i = 0; i < 8; i++) {
      advance(5);
      calls(1, { mine: 8, ownMs: 5 });
    }
    expect(guard.workersAllowed()).toBe(false);
  });
});

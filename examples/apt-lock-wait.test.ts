/**
 * scripts/apt-lock-wait.sh: setup waits while another apt holds the dpkg lock, for a bounded time,
 * and fails at once on any other apt error. A fake apt-get stands in for the real one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const script = fileURLToPath(new URL('../scripts/apt-lock-wait.sh', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'loom-apt-'));

/** A fake apt-get that fails `locked` times with apt's lock message (or `other` for another error), then succeeds. */
function fakeApt(locked: number, other = ''): string {
  const path = join(dir, `apt-${locked}-${other.length}`);
  writeFileSync(join(dir, 'count'), '0');
  writeFileSync(
    path,
    `#!/bin/bash
n=$(cat ${dir}/count); echo $((n + 1)) > ${dir}/count
${other ? `echo "E: ${other}"; exit 100` : ''}
if [ "$n" -lt ${locked} ]; then echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)"; exit 100; fi
echo installed`,
    { mode: 0o755 },
  );
  return path;
}

function waitFor(apt: string, waitSeconds: number) {
  const log = join(dir, 'log');
  const r = spawnSync('bash', ['-c', `source ${script}; apt_waiting_for_lock ${log} ${apt}; echo "status $?"; cat ${log}`], {
    encoding: 'utf8',
    env: { ...process.env, LOOM_APT_LOCK_WAIT: String(waitSeconds), LOOM_APT_LOCK_POLL: '0.05' },
  });
  return { out: r.stdout, err: r.stderr };
}

it('waits while another apt holds the lock, then goes on', () => {
  const { out, err } = waitFor(fakeApt(3), 60);
  expect(out).toBe('status 0\ninstalled\n');
  expect(err).toMatch(/another apt or dpkg holds the package lock; waiting for it \(at most 60 s/);
});

it('gives up when the lock is still held after the bound, with apt\'s own message', () => {
  const { out } = waitFor(fakeApt(1_000_000), 1);
  expect(out).toMatch(/^status 100\nE: Could not get lock/);
});

it('fails at once on any other apt error', () => {
  const { out, err } = waitFor(fakeApt(0, 'Unable to locate package chromium'), 60);
  expect(out).toMatch(/^status 100\nE: Unable to locate package chromium/);
  expect(err).toBe('');
});

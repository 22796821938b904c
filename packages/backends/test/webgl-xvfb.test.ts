import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { requireBackend } from './require-backend.ts';

/**
 * The Xvfb the WebGL backend starts when no display is set must not outlive its process, even one
 * killed without a chance to clean up (vitest kills its workers): Xvfb runs with -terminate and
 * exits when its last client goes.
 */

const { backend: gl } = await requireBackend('webgl');
const SCRIPT = new URL('./scripts/killed-after-xvfb.ts', import.meta.url).pathname;

describe.skipIf(!gl)('the Xvfb the webgl backend starts', () => {
  it('goes away when its process is killed with SIGKILL', async () => {
    const display = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', SCRIPT], (error, stdout) => {
        if (!error || (error as { signal?: string }).signal !== 'SIGKILL') reject(new Error(`expected the script to die by SIGKILL: ${String(error)} ${stdout}`));
        resolve(stdout.trim());
      });
    });
    expect(display).toMatch(/^:\d+$/);
    const socket = `/tmp/.X11-unix/X${display.slice(1)}`;
    const deadline = Date.now() + 10_000;
    while (existsSync(socket) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(socket), `${socket} is still there: the Xvfb outlived its process`).toBe(false);
  }, 60_000);
});

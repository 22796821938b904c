/** The real `loom` process (node + tsx, as `pnpm loom` runs it): exit statuses and streams. */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireBackend } from '../../backends/test/require-backend.ts';
import { FIXTURES } from './helpers.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const MAIN = join(ROOT, 'packages/models/src/cli/main.ts');
const { backend: gl } = await requireBackend('webgl');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function loom(...args: string[]): Promise<Result> {
  return loomWithEnv(process.env, ...args);
}

function loomWithEnv(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, maxBuffer: 1 << 24, env }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function expectOneLineError(r: Result, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^loom: error: [^\n]*\n$/);
  expect(r.stderr).toMatch(pattern);
}

describe.concurrent('loom process', () => {
  it('reverse "hello world" prints dlrow olleh and exits 0', async () => {
    expect(await loom('reverse', 'hello world')).toEqual({ code: 0, stdout: 'dlrow olleh\n', stderr: '' });
  });

  it('params prints a bare integer', async () => {
    expect(await loom('params', 'gpt2')).toEqual({ code: 0, stdout: '124439808\n', stderr: '' });
  });

  it('a bad argument: one line, status 1', async () => {
    expectOneLineError(await loom('reverse', '--backend', 'tpu', 'abc'), /Allowed choices are cpu, reference, webgl, webgpu/);
  });

  it('a LoomError (unknown character): one line, status 1, no stack', async () => {
    expectOneLineError(await loom('reverse', 'Hello'), /unknown character 'H' at position 1/);
  });

  it.skipIf(!existsSync('/dev/full'))('a write to a full disk (stdout is /dev/full): one line, status 1', async () => {
    const full = openSync('/dev/full', 'w');
    const r = await new Promise<Result>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'reverse', 'hello world'], { cwd: ROOT, stdio: ['ignore', full, 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (chunk) => (stderr += chunk));
      child.on('close', (code) => resolve({ code: code ?? -1, stdout: '', stderr }));
    });
    closeSync(full);
    expectOneLineError(r, /^loom: error: cannot write to standard output: no space left on device \(ENOSPC\)$/m);
  });

  it('a LoomError (mismatched weights): one line listing the problems', async () => {
    const args = ['logits', '--weights', join(ROOT, 'packages/models/weights/reverse-transformer.safetensors'), '--config', join(FIXTURES, 'gpt2-tiny.config.json'), '--ids', '1', '--out', join(mkdtempSync(join(tmpdir(), 'loom-out-')), 'never-written.safetensors')];
    expectOneLineError(await loom(...args), /does not fit the model: 28 missing .*; 64 unexpected/);
  });
});

/** `--backend webgl` on a machine without a display: Loom starts an Xvfb of its own, or says what to run. */
describe.skipIf(!gl)('loom process on --backend webgl without a display', () => {
  const noDisplay = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'DISPLAY'));

  it('with no DISPLAY set, starts its own Xvfb: reverse prints dlrow olleh and exits 0', async () => {
    expect(await loomWithEnv(noDisplay, 'reverse', '--backend', 'webgl', 'hello world')).toEqual({ code: 0, stdout: 'dlrow olleh\n', stderr: '' });
  }, 120_000);

  it('with no Xvfb on PATH: one line saying what to install or run', async () => {
    const r = await loomWithEnv({ ...noDisplay, PATH: mkdtempSync(join(tmpdir(), 'loom-empty-path-')) }, 'reverse', '--backend', 'webgl', 'hi');
    expectOneLineError(r, /webgl: headless-gl needs an X display: DISPLAY is not set and Xvfb is not installed; install Xvfb \(`apt-get install -y xvfb`.*or run under `xvfb-run -a`/);
  });

  it('with DISPLAY naming a display that has no server: one line, before ANGLE prints anything', async () => {
    const r = await loomWithEnv({ ...noDisplay, DISPLAY: ':987' }, 'reverse', '--backend', 'webgl', 'hi');
    expectOneLineError(r, /DISPLAY=:987 has no server \(no \/tmp\/.X11-unix\/X987\); unset DISPLAY to let Loom start its own Xvfb/);
  });
});

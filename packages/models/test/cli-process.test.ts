/** The real `loom` process (node + tsx, as `pnpm loom` runs it): exit statuses and streams. */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from './helpers.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const MAIN = join(ROOT, 'packages/models/src/cli/main.ts');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function loom(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
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
    expectOneLineError(await loom('reverse', '--backend', 'tpu', 'abc'), /Allowed choices are cpu, reference, webgpu/);
  });

  it('a LoomError (unknown character): one line, status 1, no stack', async () => {
    expectOneLineError(await loom('reverse', 'Hello'), /unknown character 'H' at position 1/);
  });

  it('a LoomError (mismatched weights): one line listing the problems', async () => {
    const args = ['logits', '--weights', join(ROOT, 'packages/models/weights/reverse-transformer.safetensors'), '--config', join(FIXTURES, 'gpt2-tiny.config.json'), '--ids', '1', '--out', join(mkdtempSync(join(tmpdir(), 'loom-out-')), 'never-written.safetensors')];
    expectOneLineError(await loom(...args), /does not fit the model: 28 missing .*; 64 unexpected/);
  });
});

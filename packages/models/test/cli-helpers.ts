/** Running the CLI in-process with captured streams, and the shape of a user error, for the CLI test files. */
import { expect } from 'vitest';
import { runCli } from '../src/cli/run-cli.ts';

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** `loom ...args` through runCli, stdout and stderr captured. */
export async function loom(...args: string[]): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { out: (t) => void (stdout += t), err: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

/** A user error: status 1, exactly one line on stderr, no stack trace, nothing on stdout. */
export function expectUserError(r: Result, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^loom: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

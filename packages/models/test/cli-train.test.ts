/** `loom train reverse` end to end on a tiny run: the files it writes, resuming a stopped run, and what it refuses. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectUserError, loom } from './cli-helpers.ts';

describe('loom train reverse', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loom-train-'));
  const out = join(dir, 'run');
  const tiny = ['--max-len', '4', '--batch', '4', '--eval-every', '2', '--quiet', '--out', out];

  it('writes reverse.json, the weights, the checkpoint and the loss curve; --resume continues the stopped run; loom reverse --model runs the result', async () => {
    const first = await loom('train', 'reverse', ...tiny, '--steps', '2', '--target', '1');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^2 steps in .*: [\d.]+% of 300 held-out strings of 1 to 4 characters reversed exactly/);
    for (const f of ['reverse.json', 'reverse-transformer.safetensors', 'checkpoint.safetensors', 'loss.csv']) expect(existsSync(join(out, f)), f).toBe(true);
    const description = JSON.parse(readFileSync(join(out, 'reverse.json'), 'utf8'));
    expect(description).toMatchObject({ trained_max_chars: 4, source_positions: 'from-end', trained_by: 'loom train reverse', train_steps: 2 });
    expect(readFileSync(join(out, 'loss.csv'), 'utf8').trim().split('\n')).toHaveLength(3); // header and two steps

    const resumed = await loom('train', 'reverse', ...tiny, '--steps', '4', '--target', '1', '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/^4 steps in /);
    const curve = readFileSync(join(out, 'loss.csv'), 'utf8').trim().split('\n');
    expect(curve.map((line) => line.split(',')[0])).toEqual(['step', '1', '2', '3', '4']);

    const reversed = await loom('reverse', '--model', out, 'abcd');
    expect(reversed.code, reversed.stderr).toBe(0);
    expect(reversed.stdout).toMatch(/^[a-z ]*\n$/); // four steps train nothing useful; it runs
  }, 120_000);

  it("--source-positions from-start trains the paper's positions: reverse.json says nothing of them, and loom reverse --model reads it so", async () => {
    const paper = join(dir, 'paper');
    const run = await loom('train', 'reverse', '--max-len', '4', '--batch', '4', '--eval-every', '2', '--quiet', '--out', paper, '--steps', '1', '--target', '1', '--source-positions', 'from-start');
    expect(run.code, run.stderr).toBe(0);
    const description = JSON.parse(readFileSync(join(paper, 'reverse.json'), 'utf8'));
    expect(description).toMatchObject({ trained_max_chars: 4, train_steps: 1 });
    expect(description.source_positions).toBeUndefined();
    expect((await loom('reverse', '--model', paper, 'ab')).code).toBe(0);
    expectUserError(await loom('train', 'reverse', '--source-positions', 'middle', '--out', join(dir, 'bad'), '--quiet'), /--source-positions <way>' argument 'middle' is invalid. Allowed choices are from-end, from-start/);
  }, 120_000);

  it('refuses to replace an earlier run without --force, a --max-len the positions cannot hold, and --resume with no checkpoint', async () => {
    expectUserError(await loom('train', 'reverse', ...tiny, '--steps', '1'), /holds an earlier run \(reverse\.json, .*\); pass --force to replace it or --resume to continue it/);
    expectUserError(await loom('train', 'reverse', '--max-len', '63', '--out', join(dir, 'long'), '--quiet'), /--max-len 63: the model's 64 positions hold strings of at most 62 characters/);
    expectUserError(await loom('train', 'reverse', '--resume', '--out', join(dir, 'none'), '--quiet'), /--resume: there is no checkpoint\.safetensors in/);
    writeFileSync(join(dir, 'file'), 'x');
    expectUserError(await loom('train', 'reverse', '--out', join(dir, 'file'), '--quiet'), /--out '.*file' exists and is not a folder/);
  });
});

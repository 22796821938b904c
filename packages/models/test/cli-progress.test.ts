/**
 * Long work shows progress where a person watches (a bar on a terminal: io.bar) and is quiet
 * elsewhere; generated tokens are written as they come. In-process, with a recording io.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run-cli.ts';
import type { CliIo } from '../src/cli/io.ts';
import { FIXTURES, fixtureJson } from './helpers.ts';

const gpt2 = ['--weights', join(FIXTURES, 'gpt2-tiny.safetensors'), '--config', join(FIXTURES, 'gpt2-tiny.config.json')];

/** An io that records each write and each bar event, as a terminal would show them. */
function recorder(withBar: boolean) {
  const writes: string[] = [];
  const bars: string[] = [];
  const io: CliIo = {
    out: (t) => void writes.push(t),
    err: () => undefined,
    ...(withBar
      ? { bar: (label: string, total: number) => ({ update: (done: number) => void bars.push(`${label} ${done}/${total}`), interrupt: (write: () => void) => write(), stop: () => void bars.push(`${label} stop`) }) }
      : {}),
  };
  return { io, writes, bars };
}

describe('progress and streaming', () => {
  it('generate writes each new id as it is chosen: the same bytes as the whole line at the end', async () => {
    const { io, writes } = recorder(false);
    const expected = fixtureJson<{ prompt_ids: number[]; greedy_20: number[] }>('gpt2-tiny.json');
    expect(await runCli(['generate', ...gpt2, '--ids', expected.prompt_ids.join(','), '--max-new-tokens', '6'], io)).toBe(0);
    expect(writes.join('')).toBe(`${expected.greedy_20.slice(expected.prompt_ids.length, expected.prompt_ids.length + 6).join(',')}\n`);
    expect(writes.length).toBeGreaterThanOrEqual(6);
  });

  it('generate --prompt streams the text, the prompt first', async () => {
    const { io, writes } = recorder(false);
    expect(await runCli(['generate', ...gpt2, '--prompt', 'Data visualization empowers users to', '--max-new-tokens', '5'], io)).toBe(0);
    const text = writes.join('');
    expect(text.startsWith('Data visualization empowers users to')).toBe(true);
    expect(writes.length).toBeGreaterThan(2);
    const { io: whole, writes: once } = recorder(false);
    await runCli(['generate', ...gpt2, '--prompt', 'Data visualization empowers users to', '--prompt', 'Hello', '--max-new-tokens', '5'], whole);
    expect(once.join('').split('\n')[0]).toBe(text.trimEnd()); // two prompts: printed at the end, the same text
  });

  it('a refused prompt writes nothing before its error', async () => {
    const { io, writes } = recorder(false);
    expect(await runCli(['generate', ...gpt2, '--ids', '1,2', '--max-new-tokens', '100000'], io)).toBe(1);
    expect(writes).toEqual([]);
  });

  it('loading weights and compiling show a bar on a terminal, none under --quiet', async () => {
    const loading = recorder(true);
    expect(await runCli(['generate', ...gpt2, '--ids', '1,2', '--max-new-tokens', '1'], loading.io)).toBe(0);
    expect(loading.bars.at(-1)).toBe('loading weights stop');
    expect(loading.bars.filter((b) => b.startsWith('loading weights ') && b.includes('/')).length).toBeGreaterThan(1);
    const quiet = recorder(true);
    expect(await runCli(['generate', ...gpt2, '--ids', '1,2', '--max-new-tokens', '1', '--quiet'], quiet.io)).toBe(0);
    expect(quiet.bars).toEqual([]);
    const compiling = recorder(true);
    expect(await runCli(['compile', join(FIXTURES, 'gpt2-tiny.config.json')], compiling.io)).toBe(0);
    expect(compiling.bars[0]).toMatch(/^compile 1\/\d+$/);
    expect(compiling.bars.at(-1)).toBe('compile stop');
  });
});

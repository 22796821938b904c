/**
 * writeFileAtomic: a file is published whole or not at all, never over a file that may not be
 * replaced (even one that appears while the bytes are written), never through a link.
 */
import { lstat, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutputExistsError, writeFileAtomic } from '../src/node.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loom-write-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bytes = (text: string) => new TextEncoder().encode(text);

describe('writeFileAtomic', () => {
  it('without replace: an existing file is an OutputExistsError, left untouched, with no temporary file behind', async () => {
    const path = join(dir, 'out.bin');
    await writeFile(path, 'keep me');
    const error = await writeFileAtomic(path, bytes('new'), { replace: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutputExistsError);
    expect((error as OutputExistsError).code).toBe('output-exists');
    expect((error as Error).message).toMatch(/out\.bin' already exists; it was left as it is/);
    expect(await readFile(path, 'utf8')).toBe('keep me');
    expect(await readdir(dir)).toEqual(['out.bin']);
  });

  it('without replace: a file that appears while the chunks are being written is not replaced', async () => {
    const path = join(dir, 'out.bin');
    async function* chunks() {
      yield bytes('first half, ');
      await writeFile(path, 'written meanwhile by someone else'); // after the check a caller made, before publishing
      yield bytes('second half');
    }
    await expect(writeFileAtomic(path, chunks(), { replace: false })).rejects.toThrow(OutputExistsError);
    expect(await readFile(path, 'utf8')).toBe('written meanwhile by someone else');
    expect(await readdir(dir)).toEqual(['out.bin']);
  });

  it('without replace: a new file gets the chunks in order and only its own name', async () => {
    const path = join(dir, 'out.bin');
    await writeFileAtomic(path, [bytes('a'), new Uint8Array(0), bytes('bc')], { replace: false });
    expect(await readFile(path, 'utf8')).toBe('abc');
    expect(await readdir(dir)).toEqual(['out.bin']);
    expect((await lstat(path)).nlink).toBe(1);
  });

  it('with replace (the default): an existing regular file is replaced whole', async () => {
    const path = join(dir, 'out.bin');
    await writeFile(path, 'old');
    await writeFileAtomic(path, bytes('new'));
    expect(await readFile(path, 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['out.bin']);
  });

  it('never over or through a symbolic link, replace or not', async () => {
    const target = join(dir, 'target.txt');
    const path = join(dir, 'link.bin');
    await writeFile(target, 'keep');
    await symlink(target, path);
    for (const replace of [true, false]) {
      await expect(writeFileAtomic(path, bytes('new'), { replace })).rejects.toThrow(/link\.bin' is a symbolic link/);
      expect((await lstat(path)).isSymbolicLink()).toBe(true);
    }
    expect(await readFile(target, 'utf8')).toBe('keep');
    expect((await readdir(dir)).sort()).toEqual(['link.bin', 'target.txt']);
  });
});

/**
 * The CLI in-process (fast): every command and every kind of user error, through runCli with captured
 * output. cli-process.test.ts runs the real `loom` process for a representative set.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { graphToJson, maxAbsDiff, readSafetensors, writeSafetensors } from '@loom/graph';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram, runCli } from '../src/cli/run-cli.ts';
import type { CliIo } from '../src/cli/io.ts';
import { expectUserError, loom, type Result } from './cli-helpers.ts';
import { buildGpt2 } from '../src/gpt2/model.ts';
import { weightsDirOf } from '../src/reverse/load-reverse.ts';
import { gpt2Tokenizer } from '../src/tokenizers/gpt2-tokenizer.ts';
import { FIXTURES, fixtureJson, fixtureTensors, tensor } from './helpers.ts';

const TMP = mkdtempSync(join(tmpdir(), 'loom-cli-'));
const WEIGHTS = join(FIXTURES, 'gpt2-tiny.safetensors');
const CONFIG = join(FIXTURES, 'gpt2-tiny.config.json');
const REVERSE_WEIGHTS = new URL('../weights/reverse-transformer.safetensors', import.meta.url).pathname;
const gpt2 = ['--weights', WEIGHTS, '--config', CONFIG];
const OUT = join(TMP, 'unused.safetensors');

function tmpFile(name: string, contents: string | Uint8Array): string {
  const path = join(TMP, name);
  writeFileSync(path, contents);
  return path;
}

const smallGpt2 = () => buildGpt2({ nLayer: 1, nHead: 2, nEmbd: 8, nInner: 16, nPositions: 4, vocabSize: 10, eps: 1e-5, activation: 'gelu_tanh', eosTokenId: null });

describe('loom commands', () => {
  it("reverse handles README's examples and texts longer than the 48 characters it was trained on (in pieces, exactly)", async () => {
    const long = 'the quick brown fox jumps over the lazy dog and keeps running far away';
    const r = await loom('reverse', 'attention is all you need', long, 'a');
    expect(r).toEqual({ code: 0, stdout: `deen uoy lla si noitnetta\n${[...long].reverse().join('')}\na\n`, stderr: '' });
    expect((await loom('reverse', '--help')).stdout.replace(/\s+/g, ' ')).toMatch(/is reversed in pieces of that length/);
  });

  it('reverse --whole gives the model whole strings (48 characters in one pass) and refuses one its positions cannot hold', async () => {
    const r = await loom('reverse', '--whole', 'hello world');
    expect(r).toEqual({ code: 0, stdout: 'dlrow olleh\n', stderr: '' });
    const longest = 'the quick brown fox jumps over the lazy dog and';
    expect(await loom('reverse', '--whole', `${longest}s`)).toEqual({ code: 0, stdout: `s${[...longest].reverse().join('')}\n`, stderr: '' });
    expectUserError(await loom('reverse', '--whole', 'a'.repeat(63)), /text 1 has 63 characters, but the model's 64 positions hold at most 62/);
  });

  it('the shipped weights are found in a checkout whose path has a space', () => {
    expect(weightsDirOf('file:///tmp/my%20folder/packages/models/src/reverse/load-reverse.ts')).toBe('/tmp/my folder/packages/models/weights/');
  });

  it('reverse prints one reversed line per text', async () => {
    expect(await loom('reverse', 'hello world', 'abc')).toEqual({ code: 0, stdout: 'dlrow olleh\ncba\n', stderr: '' });
  });

  it('params prints bare integers for all six presets', async () => {
    const r = await loom('params', 'transformer-base', 'transformer-big', 'gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl');
    expect(r).toEqual({ code: 0, stdout: '63082496\n214245376\n124439808\n354823168\n774030080\n1557611200\n', stderr: '' });
  });

  it('generate prints prompt + greedy continuation (the greedy_20 ids)', async () => {
    const { greedy_20 } = fixtureJson<{ greedy_20: number[] }>('gpt2-tiny.json');
    const r = await loom('generate', ...gpt2, '--prompt', 'Data visualization empowers users to', '--max-new-tokens', '20');
    expect(r).toEqual({ code: 0, stdout: `${gpt2Tokenizer.decode(greedy_20)}\n`, stderr: '' });
  });

  it('generate takes the cpu kernel options (--threads, --weight-store) and refuses them on another backend', async () => {
    const { greedy_20 } = fixtureJson<{ greedy_20: number[] }>('gpt2-tiny.json');
    const r = await loom('generate', ...gpt2, '--prompt', 'Data visualization empowers users to', '--max-new-tokens', '20', '--threads', '1', '--weight-store', 'f32');
    expect(r).toEqual({ code: 0, stdout: `${gpt2Tokenizer.decode(greedy_20)}\n`, stderr: '' });
    expectUserError(await loom('generate', ...gpt2, '--prompt', 'x', '--threads', '2', '--backend', 'reference'), /--threads and --weight-store bf16 apply to the cpu backend, not to reference/);
    expectUserError(await loom('generate', ...gpt2, '--prompt', 'x', '--weight-store', 'bf16', '--backend', 'reference'), /--threads and --weight-store bf16 apply to the cpu backend, not to reference/);
    expectUserError(await loom('generate', ...gpt2, '--prompt', 'x', '--threads', '0'), /--threads must be a positive integer/);
    expectUserError(await loom('generate', ...gpt2, '--prompt', 'x', '--weight-store', 'f16'), /--weight-store/);
  });

  it('--weight-store q8 and q4 run on any backend: generate on cpu and reference agree, reverse stays exact, training refuses them', async () => {
    const { greedy_20 } = fixtureJson<{ greedy_20: number[] }>('gpt2-tiny.json');
    for (const store of ['q8', 'q4']) {
      const args = ['generate', ...gpt2, '--prompt', 'Data visualization empowers users to', '--max-new-tokens', '20', '--weight-store', store];
      const [cpu, reference] = [await loom(...args), await loom(...args, '--backend', 'reference')];
      expect(cpu).toEqual({ code: 0, stdout: `${gpt2Tokenizer.decode(greedy_20)}\n`, stderr: '' });
      expect(reference).toEqual(cpu);
      expect(await loom('reverse', '--weight-store', store, 'hello world')).toEqual({ code: 0, stdout: 'dlrow olleh\n', stderr: '' });
    }
    expect(await loom('reverse', '--weight-store', 'q8', '--activations', 'int8', 'attention is all you need')).toEqual({ code: 0, stdout: 'deen uoy lla si noitnetta\n', stderr: '' });
    expectUserError(await loom('reverse', '--activations', 'int8', 'hello'), /--activations int8 rounds the inputs of quantized products: give --weight-store q8 or q4 with it/);
    expectUserError(await loom('train', 'reverse', '--weight-store', 'q8', '--steps', '1', '--out', 'never-written'), /--weight-store q8: training updates float32 weights/);
  });

  it('generate samples reproducibly with a seed, one line per prompt', async () => {
    const args = ['generate', ...gpt2, '--prompt', 'Data visualization', '--prompt', 'Hello there, my friend', '--max-new-tokens', '4', '--temperature', '0.8', '--top-k', '40', '--top-p', '0.95', '--seed', '7'];
    const a = await loom(...args);
    const b = await loom(...args);
    const c = await loom(...args.slice(0, -1), '8');
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).not.toBe(c.stdout);
    const lines = a.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^Data visualization./);
    expect(lines[1]).toMatch(/^Hello there, my friend./);
  });

  it('logits never loses a file: an existing --out needs --force, an input is never overwritten, links and devices are refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loom-out-'));
    const existing = join(dir, 'existing.safetensors');
    writeFileSync(existing, 'keep me');
    const args = ['logits', ...gpt2, '--ids', '6601,32704'];
    expectUserError(await loom(...args, '--out', existing), /--out '.*existing\.safetensors' already exists; pass --force to replace it/);
    expect(readFileSync(existing, 'utf8')).toBe('keep me');
    expect(await loom(...args, '--out', existing, '--force')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect([...readSafetensors(new Uint8Array(readFileSync(existing))).tensors.keys()]).toEqual(['logits']);
    expect(readdirSync(dir)).toEqual(['existing.safetensors']); // the temporary file was renamed, nothing left behind
    // the checkpoint itself, under another name too: refused even with --force
    const weights = join(dir, 'model.safetensors');
    copyFileSync(WEIGHTS, weights);
    const before = readFileSync(weights);
    symlinkSync(weights, join(dir, 'alias.safetensors'));
    for (const out of [weights, join(dir, '..', basename(dir), 'model.safetensors')]) {
      expectUserError(await loom('logits', '--weights', weights, '--config', CONFIG, '--ids', '1', '--out', out, '--force'), /is the --weights file/);
    }
    expectUserError(await loom('logits', '--weights', weights, '--config', CONFIG, '--ids', '1', '--out', join(dir, 'alias.safetensors'), '--force'), /is a symbolic link; Loom does not write through links/);
    expect(readFileSync(weights).equals(before)).toBe(true);
    expectUserError(await loom(...args, '--out', '/dev/null', '--force'), /--out '\/dev\/null' exists and is not a regular file \(a device/);
  });

  it('--max-memory bounds what a cpu run may allocate, with the numbers in the error', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => String(i + 1)).join(','); // logits alone: 20 x 50257 floats, 3.8 MiB
    const out = join(mkdtempSync(join(tmpdir(), 'loom-mem-')), 'l.safetensors');
    // gpt2-tiny's config declares 12.7 MiB of weights; the cpu holds 25.3 MiB (with their packed panels); this run adds 3.9 MiB; one thread: no worker's 8 MiB
    expectUserError(await loom('logits', ...gpt2, '--ids', ids, '--out', out, '--threads', '1', '--max-memory', '1'), /gpt2-tiny\.config\.json: 2 layers .* = 3,324,736 parameters, 12\.7 MiB of float32 weights, above the memory budget of 1\.0 MiB/);
    expectUserError(await loom('logits', ...gpt2, '--ids', ids, '--out', out, '--threads', '1', '--max-memory', '20'), /cpu: the model needs 25\.3 MiB \(weights 12\.7 MiB \(\+ 12\.7 MiB packed\), constants 0\.0 MiB\), above the memory budget of 20\.0 MiB/);
    expectUserError(await loom('logits', ...gpt2, '--ids', ids, '--out', out, '--threads', '1', '--max-memory', '28'), /cpu: this run needs 29\.2 MiB \(.*intermediates, outputs and states 3\.9 MiB at batch=1, seq=20\), above the memory budget of 28\.0 MiB/);
    expect(await loom('logits', ...gpt2, '--ids', ids, '--out', out, '--threads', '1', '--max-memory', '64')).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('weights that are a device or a FIFO are refused before anything is read', async () => {
    expectUserError(await loom('logits', '--weights', '/dev/zero', '--config', CONFIG, '--ids', '1', '--out', OUT), /cannot read weights file '\/dev\/zero': it is a device, not a regular file/);
    const fifo = join(mkdtempSync(join(tmpdir(), 'loom-fifo-')), 'pipe.safetensors');
    execFileSync('mkfifo', [fifo]);
    expectUserError(await loom('logits', '--weights', fifo, '--config', CONFIG, '--ids', '1', '--out', OUT), /it is a FIFO \(named pipe\), not a regular file/);
  });

  it('a checkpoint whose header length is one byte short is refused (it used to be read one byte off)', async () => {
    const good = readFileSync(WEIGHTS);
    const short = Buffer.from(good);
    short.writeBigUInt64LE(good.readBigUInt64LE(0) - 1n, 0);
    expectUserError(await loom('generate', '--weights', tmpFile('short.safetensors', short), '--config', CONFIG, '--prompt', 'Hello'), /short\.safetensors: 1 trailing bytes after the last tensor/);
  });

  it('NaN weights fail the run, naming the output and the first kernel that made a NaN; --allow-nonfinite lets them through', async () => {
    const { tensors } = readSafetensors(new Uint8Array(readFileSync(WEIGHTS)));
    const name = [...tensors.keys()].find((k) => k.endsWith('h.1.mlp.c_fc.weight'))!;
    const poisoned = new Map(tensors);
    const w = tensors.get(name)!;
    const data = Float32Array.from(w.data);
    data[5] = NaN;
    poisoned.set(name, { ...w, data });
    const nanWeights = tmpFile('nan.safetensors', writeSafetensors(poisoned));
    const args = ['--weights', nanWeights, '--config', CONFIG];
    const failed = await loom('logits', ...args, '--ids', '6601,32704', '--out', join(mkdtempSync(join(tmpdir(), 'loom-nan-')), 'l.safetensors'));
    expectUserError(failed, /cpu: output 'logits' holds NaN at \[0, 0, \d+\]; the first kernel to produce one was %\d+ fused_matmul at .*model\.ts:\d+/);
    expectUserError(await loom('generate', ...args, '--prompt', 'Hello', '--max-new-tokens', '2'), /output 'logits' holds NaN/);
    expectUserError(await loom('generate', ...args, '--prompt', 'Hello', '--max-new-tokens', '2', '--backend', 'reference'), /reference: output 'logits' holds NaN at \[0, 0, \d+\]; check the weights/);
    const out = join(mkdtempSync(join(tmpdir(), 'loom-nan-')), 'l.safetensors');
    expect((await loom('logits', ...args, '--ids', '6601,32704', '--out', out, '--allow-nonfinite')).code).toBe(0);
    expect(Number.isNaN(readSafetensors(new Uint8Array(readFileSync(out))).tensors.get('logits')!.data[0])).toBe(true);
  });

  it('careless numbers: a seed past 32 bits, hex or empty numbers, a config value of the wrong type', async () => {
    const args = ['generate', ...gpt2, '--prompt', 'x', '--max-new-tokens', '1'];
    expectUserError(await loom(...args, '--temperature', '0.5', '--seed', '4294967296'), /--seed must be an integer from 0 to 4294967295, got '4294967296'/);
    expect((await loom(...args, '--temperature', '0.5', '--seed', '4294967295')).code).toBe(0);
    expectUserError(await loom(...args, '--temperature', '0x10'), /--temperature must be a number >= 0 \(a decimal number\), got '0x10'/);
    expectUserError(await loom(...args, '--top-p', ''), /--top-p must be in \(0, 1\] \(a decimal number\)/);
    const cfg = JSON.parse(readFileSync(CONFIG, 'utf8')) as Record<string, unknown>;
    for (const [field, value, shown] of [['n_layer', '2', '"2"'], ['n_embd', 64.5, '64.5']] as const) {
      const bad = tmpFile(`bad-${field}.json`, JSON.stringify({ ...cfg, [field]: value }));
      expectUserError(await loom('generate', '--weights', WEIGHTS, '--config', bad, '--prompt', 'x'), new RegExp(`${field}: .*, got ${shown.replace('.', '\\.')}$`));
    }
    const { [ 'n_layer' ]: _, ...missing } = cfg;
    expectUserError(await loom('generate', '--weights', WEIGHTS, '--config', tmpFile('no-layers.json', JSON.stringify(missing)), '--prompt', 'x'), /n_layer: is required/);
  });

  it('a config asking for a million layers fails at once against the memory budget, one asking for more layers than the checkpoint has against the checkpoint', async () => {
    const cfg = JSON.parse(readFileSync(CONFIG, 'utf8')) as Record<string, unknown>;
    const huge = tmpFile('million-layers.json', JSON.stringify({ ...cfg, n_layer: 1_000_000 }));
    expectUserError(await loom('generate', '--weights', WEIGHTS, '--config', huge, '--prompt', 'x'), /million-layers\.json: 1000000 layers of width 64 .* GiB of float32 weights, above the memory budget/);
    const five = tmpFile('five-layers.json', JSON.stringify({ ...cfg, n_layer: 5 }));
    expectUserError(await loom('generate', '--weights', WEIGHTS, '--config', five, '--prompt', 'x'), /gpt2-tiny\.safetensors does not fit the model: 36 missing \(transformer\.h\.2\.ln_1\.weight, /);
  });

  it('terminal escape sequences from a file (a tensor name) reach stderr escaped, not raw', async () => {
    const evil = '\u001b[2J\u001b]0;owned\u0007h.0.x';
    const file = tmpFile('escape.safetensors', writeSafetensors(new Map([[evil, { dtype: 'f32' as const, shape: [1], data: new Float32Array(1) }]])));
    const r = await loom('logits', '--weights', file, '--config', CONFIG, '--ids', '1', '--out', OUT);
    expectUserError(r, /\\x1b\[2J\\x1b\]0;owned\\x07h\.0\.x/);
    expect(r.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
  });

  it('logits writes one float32 tensor [1, T, vocab] matching PyTorch', async () => {
    const out = join(TMP, 'logits.safetensors');
    expect(await loom('logits', ...gpt2, '--ids', '6601,32704,795,30132,2985,284', '--out', out)).toEqual({ code: 0, stdout: '', stderr: '' });
    const { tensors } = readSafetensors(new Uint8Array(readFileSync(out)));
    expect([...tensors.keys()]).toEqual(['logits']);
    const logits = tensors.get('logits')!;
    expect(logits.shape).toEqual([1, 6, 50257]);
    expect(logits.data).toBeInstanceOf(Float32Array);
    expect(maxAbsDiff(logits.data, tensor(fixtureTensors('gpt2-tiny-golden.safetensors'), 'logits_f64').data)).toBeLessThan(5e-6);
  });

  it('check-graph prints the text form of a valid graph', async () => {
    const r = await loom('check-graph', tmpFile('ok.json', graphToJson(smallGpt2())));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^%0 = input "input_ids" : i32\[batch, seq\]/);
    expect(r.stdout).toMatch(/return logits = %\d+\n$/);
  });

  it('--help works on every command and lists the backends', async () => {
    for (const cmd of [[], ['reverse'], ['generate'], ['logits'], ['params'], ['check-graph']]) {
      const r = await loom(...cmd, '--help');
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: loom/);
      if (['reverse', 'generate', 'logits'].includes(cmd[0] ?? '')) expect(r.stdout.replace(/\s+/g, ' ')).toMatch(/"cpu", "reference", "webgl", "webgpu"/);
    }
  });
});

describe('loom user errors: one line on stderr, status 1', () => {
  it('bad arguments', async () => {
    expectUserError(await loom('frobnicate'), /unknown command 'frobnicate'/);
    expectUserError(await loom('reverse', '--speed', '3', 'abc'), /unknown option '--speed'/);
    expectUserError(await loom('reverse'), /missing required argument 'text'/);
    expectUserError(await loom('generate', '--config', CONFIG, '--prompt', 'x'), /required option '--weights <file>' not specified/);
    expectUserError(await loom('generate', ...gpt2, '--prompt', 'x', '--top-k', 'many'), /'--top-k <k>' argument 'many' is invalid\. --top-k must be a positive integer/);
    expectUserError(await loom('generate', ...gpt2, '--prompt', 'x', '--top-p', '1.5'), /--top-p must be in \(0, 1\]/);
    expectUserError(await loom('generate', ...gpt2, '--prompt', 'x', '--max-new-tokens', '-3'), /--max-new-tokens must be a non-negative integer/);
    expectUserError(await loom('logits', ...gpt2, '--ids', '1,,2', '--out', OUT), /ids must be non-negative integers separated by commas/);
    expectUserError(await loom('params', 'gpt5'), /argument 'preset'\. Allowed choices are transformer-base, transformer-big, gpt2, gpt2-medium, gpt2-large, gpt2-xl/);
  });

  it('unknown backend names list the choices', async () => {
    expectUserError(await loom('reverse', '--backend', 'tpu', 'abc'), /'--backend <name>' argument 'tpu' is invalid\. Allowed choices are cpu, reference, webgl, webgpu/);
    expectUserError(await loom('logits', ...gpt2, '--ids', '1', '--out', OUT, '--backend', 'gpu'), /Allowed choices are cpu, reference, webgl, webgpu/);
  });

  it('reverse: unknown character, named with its position', async () => {
    expectUserError(await loom('reverse', 'hello World'), /unknown character 'W' at position 7 of "hello World"/);
    expectUserError(await loom('reverse', 'abc', 'tab\there'), /unknown character U\+0009 at position 4/);
    expectUserError(await loom('reverse', 'abc', ''), /text 2 is empty/);
  });

  it('sequence longer than the model positions', async () => {
    // reverse takes any length now (in pieces of 16): see the README-examples test
    const ids = Array.from({ length: 129 }, () => '1').join(',');
    expectUserError(await loom('logits', ...gpt2, '--ids', ids, '--out', OUT), /prompt has 129 tokens, longer than the model's 128 positions/);
    expectUserError(await loom('generate', ...gpt2, '--prompt', 'hello', '--max-new-tokens', '200'), /prompt of 1 tokens plus 200 new tokens is longer than the model's 128 positions/);
  });

  it('token id outside the vocabulary', async () => {
    expectUserError(await loom('logits', ...gpt2, '--ids', '6601,50257', '--out', OUT), /token id 50257 at position 2 of the prompt is outside the vocabulary \(0\.\.50256\)/);
  });

  it('corrupt weights files', async () => {
    const truncated = tmpFile('truncated.safetensors', readFileSync(WEIGHTS).subarray(0, 5000));
    expectUserError(await loom('logits', '--weights', truncated, '--config', CONFIG, '--ids', '1', '--out', OUT), /truncated\.safetensors/);
    const garbage = tmpFile('garbage.safetensors', 'this is not a safetensors file');
    expectUserError(await loom('generate', '--weights', garbage, '--config', CONFIG, '--prompt', 'x'), /garbage\.safetensors/);
  });

  it('mismatched weights: missing, unexpected and mis-shaped tensors in one line', async () => {
    expectUserError(
      await loom('logits', '--weights', REVERSE_WEIGHTS, '--config', CONFIG, '--ids', '1', '--out', OUT),
      /reverse-transformer\.safetensors does not fit the model: 28 missing \(wte\.weight, wpe\.weight, .* and 20 more\); 64 unexpected \(decoder\.layers\.0\.linear1\.bias, .* and 56 more\)$/,
    );
    const wider = tmpFile('wider.json', JSON.stringify({ ...fixtureJson('gpt2-tiny.config.json'), n_embd: 32 }));
    // the embedding tables fix the sizes: a wrong n_embd is named before any graph is built
    expectUserError(await loom('logits', '--weights', WEIGHTS, '--config', wider, '--ids', '1', '--out', OUT), /config vocab_size 50257 and n_embd 32 do not match .*gpt2-tiny\.safetensors's wte\.weight \[50257, 64\]/);
  });

  it('missing files and malformed config.json', async () => {
    expectUserError(await loom('generate', '--weights', join(TMP, 'nope.safetensors'), '--config', CONFIG, '--prompt', 'x'), /cannot read weights file '.*nope\.safetensors': no such file/);
    expectUserError(await loom('generate', ...gpt2.slice(0, 2), '--config', TMP, '--prompt', 'x'), /cannot read config '.*': it is a directory/);
    const bad = tmpFile('bad.json', JSON.stringify({ ...fixtureJson('gpt2-tiny.config.json'), activation_function: 'swish' }));
    expectUserError(await loom('generate', '--weights', WEIGHTS, '--config', bad, '--prompt', 'x'), /bad\.json: activation_function: unsupported value 'swish'; supported: gelu_new/);
    expectUserError(await loom('logits', '--weights', WEIGHTS, '--config', tmpFile('broken.json', '{"n_layer": 2,'), '--ids', '1', '--out', OUT), /broken\.json: not valid JSON/);
  });

  it('check-graph: malformed graph JSON names the file and the JSON path', async () => {
    const json = JSON.parse(graphToJson(smallGpt2()));
    json.nodes[3].op = 'convolve';
    expectUserError(await loom('check-graph', tmpFile('bad-graph.json', JSON.stringify(json))), /bad-graph\.json: \$\.nodes\[3\]\.op: unknown op 'convolve'/);
    json.nodes[3].op = JSON.parse(graphToJson(smallGpt2())).nodes[3].op;
    json.nodes[1].type.shape = [8, 'not a dim!'];
    expectUserError(await loom('check-graph', tmpFile('bad-dim.json', JSON.stringify(json))), /bad-dim\.json: \$\.nodes\[1\]\.type\.shape\[1\]: /);
    expectUserError(await loom('check-graph', tmpFile('not-json.json', '{"format": "loom-graph",')), /not-json\.json: \$: not valid JSON/);
  });
});

describe('loom: standard output that cannot be written', () => {
  const failingWrite = (code: string, errno: number, description: string) => () => {
    throw Object.assign(new Error(`${code}: ${description}, write`), { code, errno, syscall: 'write' });
  };
  const run = async (out: CliIo['out']): Promise<Result> => {
    let stderr = '';
    const code = await runCli(['reverse', 'hello world'], { out, err: (t) => void (stderr += t) });
    return { code, stdout: '', stderr };
  };

  it('a full disk or an I/O error is one line naming the cause, status 1', async () => {
    expectUserError(await run(failingWrite('ENOSPC', -28, 'no space left on device')), /^loom: error: cannot write to standard output: no space left on device \(ENOSPC\)$/);
    expectUserError(await run(failingWrite('EIO', -5, 'i/o error')), /^loom: error: cannot write to standard output: i\/o error \(EIO\)$/);
  });

  it('a reader that stops early (EPIPE) is not an error; a writer failing without an error code is a bug', async () => {
    expect(await run(failingWrite('EPIPE', -32, 'broken pipe'))).toEqual({ code: 0, stdout: '', stderr: '' });
    const bug = await run(() => {
      throw new TypeError('not a function');
    });
    expect(bug.code).toBe(2);
    expect(bug.stderr).toMatch(/^loom: internal error/);
  });
});

describe('loom bugs', () => {
  it('a non-Loom exception is a bug: status 2 and its stack trace', async () => {
    let stdout = '';
    let stderr = '';
    const io: CliIo = { out: (t) => void (stdout += t), err: (t) => void (stderr += t) };
    const result = (): Omit<Result, 'code'> => ({ stdout, stderr });
    const program = buildProgram(io);
    program.addCommand(new Command('boom').exitOverride().action(() => {
      throw new TypeError('undefined is not a function');
    }));
    const code = await runCli(['boom'], io, program);
    expect(code).toBe(2);
    expect(result().stderr).toMatch(/^loom: internal error \(a bug, please report it\):\nTypeError: undefined is not a function\n\s+at /);
  });
});

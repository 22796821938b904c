/**
 * Fuzz targets, one per input format the CLI takes (safetensors has its own in
 * packages/graph/test/safetensors.test.ts): config.json, graph JSON and the command line itself.
 * Each asserts the same contract on hostile or careless input: a result, or a LoomError (one
 * `loom: error:` line, exit 1), never another exception, an internal error or a hang. CI runs a
 * fixed seed and a bounded number of runs; set LOOM_FUZZ_RUNS (and LOOM_FUZZ_SEED) to fuzz longer.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { graphFromJson, graphToJson, LoomError } from '@loom/graph';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EXIT_BUG, runCli } from '../src/cli/run-cli.ts';
import { parseGpt2ConfigJson } from '../src/gpt2/config.ts';
import { buildGpt2 } from '../src/gpt2/model.ts';
import { FIXTURES } from './helpers.ts';

const RUNS = Number(process.env['LOOM_FUZZ_RUNS'] ?? 0) || undefined;
const SEED = Number(process.env['LOOM_FUZZ_SEED'] ?? 20261202);
const params = (ciRuns: number) => ({ numRuns: RUNS ?? ciRuns, seed: SEED });

/** Runs `f`; a LoomError is an accepted outcome, anything else thrown fails the property. */
function resultOrLoomError(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof LoomError)) throw e;
  }
}

/** `text` with `edits` random single-character edits (replace, delete, insert) at random places. */
const mutated = (text: string) =>
  fc.array(fc.tuple(fc.nat(text.length), fc.constantFrom('replace', 'delete', 'insert'), fc.constantFrom(...'{}[]",:0123456789-.eE \\nxtfu')), { minLength: 1, maxLength: 8 }).map((edits) => {
    let t = text;
    for (const [at, kind, ch] of edits) {
      const i = Math.min(at, t.length);
      t = kind === 'delete' ? t.slice(0, i) + t.slice(i + 1) : kind === 'insert' ? t.slice(0, i) + ch + t.slice(i) : t.slice(0, i) + ch + t.slice(i + 1);
    }
    return t;
  });

describe('fuzz: config.json', () => {
  const tiny = JSON.parse(readFileSync(join(FIXTURES, 'gpt2-tiny.config.json'), 'utf8')) as Record<string, unknown>;
  const fields = Object.keys(tiny);

  it('a config with any field replaced by any JSON value parses or gives a ConfigError', () => {
    fc.assert(
      fc.property(fc.subarray(fields, { minLength: 1, maxLength: 4 }), fc.array(fc.jsonValue(), { minLength: 4, maxLength: 4 }), (replaced, values) => {
        const cfg: Record<string, unknown> = { ...tiny };
        replaced.forEach((f, i) => (cfg[f] = values[i]));
        resultOrLoomError(() => parseGpt2ConfigJson(JSON.stringify(cfg), 'fuzz.json'));
      }),
      params(300),
    );
  });

  it('mutated config text parses or gives a ConfigError', () => {
    fc.assert(fc.property(mutated(JSON.stringify(tiny)), (text) => resultOrLoomError(() => parseGpt2ConfigJson(text, 'fuzz.json'))), params(300));
  });
});

describe('fuzz: graph JSON', () => {
  const small = graphToJson(buildGpt2({ nLayer: 1, nHead: 2, nEmbd: 8, nInner: 16, nPositions: 8, vocabSize: 11, eps: 1e-5, activation: 'gelu_tanh', eosTokenId: null }));

  it('mutated graph JSON loads or gives a LoomError naming what is wrong', () => {
    fc.assert(fc.property(mutated(small), (text) => resultOrLoomError(() => graphFromJson(text))), params(300));
  });

  it('any JSON document loads or gives a LoomError', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => resultOrLoomError(() => graphFromJson(JSON.stringify(value)))), params(200));
  });
});

describe('fuzz: command-line arguments', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loom-fuzz-'));
  const notJson = join(dir, 'not-json.json');
  writeFileSync(notJson, '{"n_layer": 2,');
  const values = [
    'cpu', 'reference', 'tpu', '0', '1', '-1', '2', '1e309', '0x10', 'NaN', '', ' ', 'abc', 'hello world', 'f32', 'bf16',
    '6601,32704', '1,,2', '99999999', '/dev/zero', '/nonexistent/file', notJson, dir,
    join(FIXTURES, 'gpt2-tiny.safetensors'), join(FIXTURES, 'gpt2-tiny.config.json'), 'gpt2', 'transformer-base', 'fuse-attention',
  ];
  const options = [
    '--backend', '--threads', '--weight-store', '--max-memory', '--seed', '--temperature', '--top-k', '--top-p', '--max-new-tokens',
    '--ids', '--weights', '--config', '--prompt', '--dump-after', '--report', '--plan', '--force', '--allow-nonfinite', '--no-kv-cache', '--bogus', '--help',
  ];
  const W = join(FIXTURES, 'gpt2-tiny.safetensors');
  const C = join(FIXTURES, 'gpt2-tiny.config.json');
  const graphFile = join(dir, 'graph.json');
  writeFileSync(graphFile, graphToJson(buildGpt2({ nLayer: 1, nHead: 2, nEmbd: 8, nInner: 16, nPositions: 8, vocabSize: 11, eps: 1e-5, activation: 'gelu_tanh', eosTokenId: null })));
  // a valid command line per command, so that random additions and removals reach the code behind the parser
  const bases: Record<string, string[][]> = {
    reverse: [['hello']],
    generate: [['--weights', W], ['--config', C], ['--prompt', 'hello'], ['--max-new-tokens', '1']],
    logits: [['--weights', W], ['--config', C], ['--ids', '6601']],
    params: [['gpt2']],
    compile: [['transformer-base'], ['--report']],
    'check-graph': [[graphFile]],
    bogus: [],
  };
  // values each option might get, right and wrong, so that pairs reach the code that uses them
  const careless = ['', ' ', 'abc', '-1', '0x10', 'NaN', '1e309'];
  const plausible: Record<string, string[]> = {
    '--backend': ['cpu', 'reference', 'tpu'],
    '--threads': ['1', '2', '3', '0'],
    '--weight-store': ['f32', 'bf16', 'q8', 'q4', 'f16'],
    '--max-memory': ['1', '64', '4096', '0'],
    '--seed': ['0', '7', '4294967295', '4294967296'],
    '--temperature': ['0', '0.7', '1', '2'],
    '--top-k': ['1', '40', '100000'],
    '--top-p': ['0.5', '1', '1.5'],
    '--max-new-tokens': ['0', '1', '3', '500'],
    '--ids': ['6601,32704', '1,,2', '50257', '99999999'],
    '--prompt': ['hello', '', 'Data visualization'],
  };
  const optionWithValue = fc.constantFrom(...Object.keys(plausible)).chain((o) => fc.constantFrom(...plausible[o]!, ...careless).map((v) => [o, v]));
  // an option with a value (most of the time), a lone option, or a lone value
  const token = fc.oneof(
    { arbitrary: optionWithValue, weight: 3 },
    { arbitrary: fc.tuple(fc.constantFrom(...options), fc.constantFrom(...values)), weight: 1 },
    { arbitrary: fc.tuple(fc.constantFrom(...options)), weight: 1 },
    { arbitrary: fc.tuple(fc.constantFrom(...values)), weight: 1 },
  );
  // a base command line with a group dropped now and then (each kept with 90%), then random additions
  const argv = fc
    .tuple(fc.constantFrom(...Object.keys(bases)), fc.array(fc.integer({ min: 0, max: 9 }).map((x) => x > 0), { minLength: 4, maxLength: 4 }), fc.array(token, { maxLength: 4 }), fc.nat(1000))
    .map(([command, keep, additions, n]) => [command, [...bases[command]!.filter((_, i) => keep[i]!).flat(), ...additions.flat()], n] as const);

  it('any command line exits 0 or 1 with at most one error line, never an internal error', async () => {
    await fc.assert(
      fc.asyncProperty(argv, async ([command, rest, n]) => {
        // every --out goes to a fresh file in the fuzz folder: nothing the user has can be touched
        const args = [command, ...rest, ...(command === 'logits' ? ['--out', join(dir, `out-${n}-${Math.random().toString(36).slice(2)}.safetensors`)] : [])];
        let stderr = '';
        const code = await runCli(args, { out: () => undefined, err: (t) => void (stderr += t) });
        expect(code, `loom ${args.join(' ')}\n${stderr}`).not.toBe(EXIT_BUG);
        expect([0, 1]).toContain(code);
        expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
      }),
      params(200),
    );
  }, 120_000);
});

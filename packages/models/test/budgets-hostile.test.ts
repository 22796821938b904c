/**
 * Sizes, beams and threads bounded before any work starts: a config asking for a million layers, a
 * graph JSON declaring a 48-gigabyte weight, a million beams, a thousand threads are each one user
 * error in milliseconds, never a graph of millions of nodes, a stack overflow or an aborted V8.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBackend } from '@loom/backends';
import { graphToJson, ModelBuilder } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { countParams } from '../src/blocks.ts';
import { generate } from '../src/decoding/generate.ts';
import { MAX_BEAMS } from '../src/config/limits.ts';
import { GPT2_PRESETS, gpt2ConfigFromHf, type Gpt2Config } from '../src/gpt2/config.ts';
import { buildGpt2 } from '../src/gpt2/model.ts';
import { loadCausalLm } from '../src/io/load-causal-lm.ts';
import { llamaConfigFromHf } from '../src/llama/config.ts';
import { buildLlama } from '../src/llama/model.ts';
import { gpt2Size } from '../src/families/gpt2.ts';
import { llamaSize } from '../src/families/llama.ts';
import { MAX_LAYERS } from '../src/families/model-size.ts';
import { transformerSize } from '../src/families/transformer.ts';
import { padBatch } from '../src/runtime/graph-runner.ts';
import { TRANSFORMER_PRESETS, type TransformerConfig } from '../src/transformer/config.ts';
import { buildTransformer } from '../src/transformer/model.ts';
import { expectUserError, loom } from './cli-helpers.ts';
import { FIXTURES } from './helpers.ts';
import { tinyMarian } from './marian-reference.ts';

const dir = mkdtempSync(join(tmpdir(), 'loom-budgets-'));
const fixtureJson = (name: string) => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Record<string, unknown>;
/** Writes a JSON file into a folder of its own (so a generation_config.json beside it is its own) and returns its path. */
function writeJson(name: string, value: unknown, folder = mkdtempSync(join(dir, 'c-'))): string {
  const path = join(folder, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

const gpt2Tiny = fixtureJson('gpt2-tiny.config.json');
const llamaTiny = fixtureJson('llama-tiny-dev.config.json');
const marianTiny = tinyMarian(3).config;
const WEIGHTS = join(FIXTURES, 'gpt2-tiny.safetensors');
const gpt2Args = ['--weights', WEIGHTS, '--config', join(FIXTURES, 'gpt2-tiny.config.json')];

// a million layers: hundreds of GiB of float32 weights on any of the three families
const deep = {
  gpt2: writeJson('config.json', { ...gpt2Tiny, n_layer: 1e6 }),
  llama: writeJson('config.json', { ...llamaTiny, num_hidden_layers: 1e6 }),
  marian: writeJson('config.json', { ...marianTiny, encoder_layers: 1e6, d_model: 256, encoder_ffn_dim: 1024, decoder_ffn_dim: 1024 }),
};
const overBudget = /config\.json: 1000000 (encoder and 2 decoder )?layers of width \d+ .* = [\d,]+ parameters, [\d.]+ GiB of float32 weights, above the memory budget of [\d.]+ [GM]iB \(--max-memory\)$/;

describe('a config is compared with the memory budget before any graph is built', () => {
  it('the parameter count from the sizes equals the built graph\'s, for every family and option', () => {
    const gpt2 = gpt2ConfigFromHf(gpt2Tiny);
    for (const cfg of [gpt2, { ...gpt2, nInner: 100, nLayer: 3 }, GPT2_PRESETS.gpt2] as Gpt2Config[]) expect(gpt2Size(cfg).params).toBe(countParams(buildGpt2(cfg)));
    expect(gpt2Size(GPT2_PRESETS['gpt2-xl']).params).toBe(1_557_611_200); // Hugging Face's num_parameters()
    for (const patch of [{}, { tie_word_embeddings: false }, { model_type: 'qwen2' }, { attention_bias: true }, { num_key_value_heads: 4 }]) {
      const cfg = llamaConfigFromHf({ ...llamaTiny, ...patch });
      expect(llamaSize(cfg).params, JSON.stringify(patch)).toBe(countParams(buildLlama(cfg)));
    }
    const base = TRANSFORMER_PRESETS['transformer-base'];
    const small: TransformerConfig = { ...base, encoderLayers: 2, decoderLayers: 1, dModel: 16, heads: 2, dFF: 24, srcVocab: 30, tgtVocab: 30, maxLen: 12 };
    const variants: TransformerConfig[] = [
      base,
      small,
      { ...small, positional: 'learned', norm: 'pre', generatorBias: true },
      { ...small, sharedEmbeddings: false, tgtVocab: 20 },
      { ...small, sharedEmbeddings: false, tgtVocab: 20, tieOutputToTarget: true, generatorBias: true, encoderLayers: 0 },
    ];
    for (const cfg of variants) expect(transformerSize(cfg).params).toBe(countParams(buildTransformer(cfg)));
  });

  it('every command that builds a graph refuses a million layers of GPT-2, Llama or Marian with the numbers, in milliseconds', async () => {
    const started = Date.now();
    for (const config of [deep.gpt2, deep.llama, deep.marian]) {
      expectUserError(await loom('compile', config), overBudget);
      expectUserError(await loom('export', '--format', 'ts', '--out', join(dir, 'x.ts'), '--config', config), overBudget);
      expectUserError(await loom('export', '--format', 'onnx', '--out', join(dir, 'x.onnx'), '--config', config, '--random-weights'), overBudget);
      expectUserError(await loom('inspect', '--config', config, '--no-open'), overBudget);
      expectUserError(await loom('verify', config, '--timeout', '5'), /1000000 .* parameters, [\d.]+ GiB of random weights \(float64 for the reference, float32 for the backends\), above the memory budget of 4\.0 GiB \(--max-memory 4096 MiB\)$/);
    }
    for (const config of [deep.gpt2, deep.llama]) {
      expectUserError(await loom('generate', '--weights', WEIGHTS, '--config', config, '--ids', '1,2'), overBudget);
      expectUserError(await loom('logits', '--weights', WEIGHTS, '--config', config, '--ids', '1,2', '--out', join(dir, 'l.safetensors')), overBudget);
    }
    expectUserError(await loom('translate', '--weights', WEIGHTS, '--config', deep.marian, '--ids', '1,0'), overBudget);
    expectUserError(await loom('logits', '--weights', WEIGHTS, '--config', deep.marian, '--ids', '1,0', '--decoder-ids', '39', '--out', join(dir, 'l.safetensors')), overBudget);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('--max-memory sets the budget, on compile, export and inspect too; the library loader takes it as maxMemory', async () => {
    const gpt2Tiny4 = writeJson('config.json', { ...gpt2Tiny, n_layer: 4 }); // 3,424,704 parameters, 13.1 MiB
    expectUserError(await loom('compile', gpt2Tiny4, '--max-memory', '10'), /4 layers of width 64 \(MLP 256\), vocabulary 50257, 128 positions = 3,424,704 parameters, 13\.1 MiB of float32 weights, above the memory budget of 10\.0 MiB \(--max-memory\)/);
    expect((await loom('compile', gpt2Tiny4, '--max-memory', '14')).code).toBe(0);
    expectUserError(await loom('inspect', '--config', gpt2Tiny4, '--max-memory', '10', '--no-open'), /13\.1 MiB of float32 weights, above the memory budget of 10\.0 MiB/);
    await expect(loadCausalLm(WEIGHTS, gpt2Tiny4, cpuBackend, { maxMemory: 10 * 2 ** 20 })).rejects.toThrow(/above the memory budget of 10\.0 MiB/);
  });

  it(`layers past ${MAX_LAYERS} are refused even when narrow enough to fit the budget (the graph is the cost)`, async () => {
    const narrow = writeJson('config.json', { ...gpt2Tiny, n_layer: 5000, n_embd: 8, n_head: 2, vocab_size: 16 });
    for (const args of [['compile', narrow], ['verify', narrow], ['generate', '--weights', WEIGHTS, '--config', narrow, '--ids', '1']]) {
      expectUserError(await loom(...args), /5000 layers of width 8 .*: 5000 layers, more than the 1024 Loom builds/);
    }
  });

  it('random weights of a graph JSON are compared with the budget before any is drawn', async () => {
    const m = new ModelBuilder();
    const ids = m.input('ids', 'i32', ['batch', 'seq'] as const);
    const graph = m.build({ y: m.embed(ids, m.param('table', [200_000, 60_000] as const)) }); // 12e9 elements, 44.7 GiB
    const file = writeJson('huge.graph.json', JSON.parse(graphToJson(graph)));
    const refused = /random weights: the graph's 1 weights hold 12000000000 elements, 44\.7 GiB of float32, above the memory budget of [\d.]+ [GM]iB \(--max-memory\)/;
    expectUserError(await loom('export', '--format', 'onnx', '--out', join(dir, 'g.onnx'), file, '--random-weights'), refused);
    expectUserError(await loom('inspect', file, '--no-open'), refused);
    expectUserError(await loom('verify', file), /verify: the model's random weights would take 137329 MiB, above --max-memory 4096 MiB/);
    // within the budget, still one array too many: a clear error, not V8's "Invalid typed array length"
    expectUserError(await loom('inspect', file, '--no-open', '--max-memory', '100000000'), /'table' has 12000000000 elements, more than one array holds/);
  });
});

describe('verify bounds a run at the largest sizes it may draw before drawing anything', () => {
  /** A graph JSON: input x f32 of `shape`, y = -x. */
  const negGraph = (name: string, shape: (number | string)[]) => {
    const m = new ModelBuilder();
    return writeJson(name, JSON.parse(graphToJson(m.build({ y: m.add(m.input('x', 'f32', shape), 1) }))));
  };

  it('a static input too large for one tensor, or too large to draw, is one error in milliseconds', async () => {
    const started = Date.now();
    expectUserError(await loom('verify', negGraph('wide.json', [20_000, 15_000])), /^loom: error: verify: node %0 input 'x' f32\[20000, 15000\] would have 300000000 elements, more than the 268435456 one tensor of the float64 reference may hold; its shape is static: check the graph's shapes$/);
    expectUserError(await loom('verify', negGraph('vast.json', [2 ** 40, 2 ** 40])), /node %0 input 'x' f32\[1099511627776, 1099511627776\] would have more than 9007199254740991 elements/);
    // within one tensor, but 100M drawn values and two float64 copies are far above 4 GiB
    expectUserError(await loom('verify', negGraph('big.json', [10_000, 10_000])), /^loom: error: verify: a run would hold [\d.]+ GiB: the float64 reference 1\.5 GiB \(the largest: node %0 input 'x' f32\[10000, 10000\]\), the drawn inputs [\d.]+ GiB, the random weights 0\.0 MiB; above --max-memory 4096 MiB; raise --max-memory, or check the graph's shapes$/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a preset at a large --max-seq is refused with the sizes, the largest node and the way out', async () => {
    const started = Date.now();
    // batch is drawn up to --max-seq, seq up to GPT-2's 1024 positions: the embedding gather alone is 3.2e9 elements
    expectUserError(await loom('verify', 'gpt2', '--max-seq', '4096', '--runs', '1', '--timeout', '5'), /^loom: error: verify: at batch = 4096, seq = 1024 \(the largest sizes --max-seq 4096 draws\) node %\d+ gather f32\[4096, 1024, 768\] would have 3221225472 elements, more than the 268435456 one tensor of the float64 reference may hold; use a smaller --max-seq$/);
    expectUserError(await loom('verify', join(FIXTURES, 'gpt2-tiny.config.json'), '--max-seq', '64', '--max-memory', '100'), /^loom: error: verify: at batch = 64, seq = 64 .* a run would hold [\d.]+ GiB: the float64 reference [\d.]+ GiB \(the largest: node %\d+ \w+ f32\[64, 64, 50257\]\), the drawn inputs [\d.]+ [MG]iB, the random weights [\d.]+ MiB; above --max-memory 100 MiB; use a smaller --max-seq \(or raise --max-memory\)$/);
    expect(Date.now() - started).toBeLessThan(15_000);
    const { code, stdout } = await loom('verify', join(FIXTURES, 'gpt2-tiny.config.json'), '--max-seq', '3', '--runs', '1', '--max-memory', '100', '--quiet');
    expect(code).toBe(0);
    expect(stdout).toMatch(/ok: cpu agree/);
  });
});

describe('beams are bounded, and so is the batch they make', () => {
  it('--beams above the cap is refused by generate and translate, as is num_beams in config.json or generation_config.json', async () => {
    expectUserError(await loom('generate', ...gpt2Args, '--ids', '1,2', '--beams', '1000000'), /--beams must be at most 64 \(each beam is a row of the batch/);
    const marianDir = mkdtempSync(join(dir, 'marian-'));
    const config = writeJson('config.json', marianTiny, marianDir);
    expectUserError(await loom('translate', '--weights', WEIGHTS, '--config', config, '--ids', '1,0', '--beams', '1000'), /--beams must be at most 64/);
    expectUserError(await loom('translate', '--weights', WEIGHTS, '--config', writeJson('config.json', { ...marianTiny, num_beams: 1000 }), '--ids', '1,0'), /config\.json: num_beams: at most 64 beams/);
    writeJson('generation_config.json', { num_beams: 1000 }, marianDir);
    expectUserError(await loom('translate', '--weights', WEIGHTS, '--config', config, '--ids', '1,0'), /generation_config\.json: num_beams: at most 64 beams \(each beam is a row of the batch/);
  });

  it('beams x KV cache and logits rows are compared with --max-memory before the first run', async () => {
    // gpt2-tiny: 12.7 MiB of weights; each row 0.7 MiB (2 x 2 layers x 128 positions x 64 floats, and 50257 logits)
    expectUserError(await loom('generate', ...gpt2Args, '--ids', '1,2', '--beams', String(MAX_BEAMS), '--max-memory', '20'), /64 beams: 64 rows of 0\.7 MiB each \(KV cache at full length and logits\) \+ 12\.7 MiB of weights = 57\.5 MiB, above the memory budget of 20\.0 MiB \(--max-memory\)/);
  });

  it('the library refuses a million beams at once, and padBatch takes a million rows without recursion', async () => {
    const model = await loadCausalLm(WEIGHTS, join(FIXTURES, 'gpt2-tiny.config.json'), cpuBackend);
    await expect(generate(model, [[1, 2]], { maxNewTokens: 2, beams: 1e6 })).rejects.toThrow(/beams must be at most 64/);
    await model.dispose();
    const { ids } = padBatch(Array.from({ length: 1e6 }, () => [1]), 0);
    expect(ids.shape).toEqual([1e6, 1]);
  });
});

describe('generation_config.json is named in its own errors', () => {
  it('a bad value from generation_config.json names that file and the field; config.json keeps its own', async () => {
    const marianDir = mkdtempSync(join(dir, 'marian-'));
    const config = writeJson('config.json', marianTiny, marianDir);
    const translate = () => loom('translate', '--weights', WEIGHTS, '--config', config, '--ids', '1,0');
    writeJson('generation_config.json', { max_length: -3 }, marianDir);
    expectUserError(await translate(), /\/generation_config\.json: max_length: /);
    writeJson('generation_config.json', { eos_token_id: 999 }, marianDir);
    expectUserError(await translate(), /\/generation_config\.json: eos_token_id: 999 is outside the target vocabulary of 40/);
    writeJson('generation_config.json', { bad_words_ids: [[3, 4]] }, marianDir);
    expectUserError(await translate(), /\/generation_config\.json: bad_words_ids: only single-token entries are supported/);
    const badConfig = writeJson('config.json', { ...marianTiny, eos_token_id: 999 });
    expectUserError(await loom('translate', '--weights', WEIGHTS, '--config', badConfig, '--ids', '1,0'), /\/config\.json: eos_token_id: 999 is outside the target vocabulary/);
  });
});

describe('threads', () => {
  /** Runs `work` with LOOM_CPU_THREADS set to `value`, restoring it afterwards. */
  async function withThreadsEnv<T>(value: string, work: () => Promise<T>): Promise<T> {
    const before = process.env['LOOM_CPU_THREADS'];
    process.env['LOOM_CPU_THREADS'] = value;
    try {
      return await work();
    } finally {
      if (before === undefined) delete process.env['LOOM_CPU_THREADS'];
      else process.env['LOOM_CPU_THREADS'] = before;
    }
  }

  it('LOOM_CPU_THREADS and --threads are strict positive integers, at most twice the cores: one error before the weights are read', async () => {
    expectUserError(await withThreadsEnv('abc', () => loom('generate', ...gpt2Args, '--ids', '1,2')), /LOOM_CPU_THREADS must be a positive integer, got 'abc'/);
    expectUserError(await withThreadsEnv('1e11', () => loom('generate', ...gpt2Args, '--ids', '1,2')), /LOOM_CPU_THREADS must be a positive integer, got '1e11'/);
    expectUserError(await withThreadsEnv('100000', () => loom('logits', ...gpt2Args, '--ids', '1,2', '--out', join(dir, 't.safetensors'))), /LOOM_CPU_THREADS=100000 is above the limit of \d+ threads \(twice this machine's \d+ cores?/);
    expectUserError(await loom('generate', ...gpt2Args, '--ids', '1,2', '--threads', '100000000000'), /cpu: 100000000000 threads \(--threads, prepare option threads\) is above the limit of \d+/);
  });

  it('each worker thread counts in the cpu memory budget', async () => {
    // 1 thread: the model's 25.3 MiB fit in 30 MiB; 2 threads add a worker of 8 MiB
    expect((await loom('generate', ...gpt2Args, '--ids', '1,2', '--max-new-tokens', '1', '--threads', '1', '--max-memory', '30')).code).toBe(0);
    expectUserError(await loom('generate', ...gpt2Args, '--ids', '1,2', '--max-new-tokens', '1', '--threads', '2', '--max-memory', '30'), /cpu: the model needs 33\.3 MiB \(weights 12\.7 MiB \(\+ 12\.7 MiB packed\), constants 0\.0 MiB, worker threads 8\.0 MiB\), above the memory budget of 30\.0 MiB/);
  });
});

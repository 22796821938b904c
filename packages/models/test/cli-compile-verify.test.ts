/** `loom compile` and `loom verify`, in-process. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPipeline } from '@loom/compiler';
import { describe, expect, it } from 'vitest';
import { graphToJson, ModelBuilder } from '@loom/graph';
import { runCli } from '../src/cli/run-cli.ts';
import { FIXTURES } from './helpers.ts';

/** A user's own block: embedding, learned positions, attention that skips padding (id 0), add & norm. */
function paddedAttentionBlock() {
  const m = new ModelBuilder();
  const ids = m.input('ids', 'i32', ['batch', 'seq'] as const);
  const x = m.learnedPosenc(m.embed(ids, m.param('tokens', [100, 32] as const)), m.param('positions', [64, 32] as const));
  const attended = m.attention(x, x, x, 2, m.paddingMask(ids, 0));
  return m.build({ y: m.addNorm(x, attended, m.param('gamma', [32] as const), m.param('beta', [32] as const)) });
}

async function loom(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { out: (t) => void (stdout += t), err: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

describe('loom compile', () => {
  it('--report prints JSON with node counts, kernels, planned and naive peak bytes and compile time', async () => {
    const { code, stdout } = await loom('compile', 'gpt2', '--report', '--seq', '128');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ preset: 'gpt2', nodesBefore: expect.any(Number), nodesAfter: expect.any(Number), kernels: 175 });
    expect(report.plannedPeakBytes).toBeLessThan(report.naivePeakBytes);
    expect(report.compileMs).toBeGreaterThan(0);
    expect(report.passes.map((p: { name: string }) => p.name)).toContain('fuse-attention');
  });

  it('--train reports a training step beside inference: more kernels and memory, and less memory when each block is recomputed', async () => {
    const { code, stdout } = await loom('compile', 'gpt2', '--train', '--report', '--batch', '4', '--seq', '512');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    const { training } = report;
    expect(training).toMatchObject({ optimizer: 'adamw', blocks: 12 });
    // the weights and AdamW's two moments
    expect(training.stateBytes).toBeGreaterThanOrEqual(3 * training.weightBytes);
    expect(training.step.kernels).toBeGreaterThan(3 * report.kernels);
    expect(training.step.plannedPeakBytes).toBeGreaterThan(report.plannedPeakBytes);
    expect(training.recompute.kernels).toBeGreaterThan(training.step.kernels);
    expect(training.recompute.plannedPeakBytes).toBeLessThan(0.8 * training.step.plannedPeakBytes);
    const table = await loom('compile', 'transformer-base', '--train', '--batch', '2', '--seq', '16', '--quiet');
    expect(table.stdout).toMatch(/training step, 12 blocks recomputed\s+\d+/);
    const fromConfig = await loom('compile', join(FIXTURES, 'gpt2-tiny.config.json'), '--train', '--quiet');
    expect(fromConfig.code).toBe(0);
    expect(fromConfig.stdout).toMatch(/training step \(AdamW\)/);
  }, 60_000);

  it('--dump-after prints the IR after one pass or after all', async () => {
    const one = await loom('compile', 'transformer-base', '--dump-after', 'fuse-attention');
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^; after fuse-attention \(\d+ nodes\)\n%0 = input "src_ids"/);
    expect(one.stdout).toContain('fused_attention(');
    const all = await loom('compile', 'gpt2', '--dump-after', 'all');
    expect(all.stdout.match(/^; after /gm)).toHaveLength(defaultPipeline.length);
  });

  it('--plan prints buffers and kernels', async () => {
    const { stdout } = await loom('compile', 'gpt2', '--plan');
    expect(stdout).toMatch(/^buffers:\n/);
    expect(stdout).toMatch(/k\d+ {2}%\d+ fused_matmul\(b\d+, b\d+, b\d+\) -> b\d+ .*epilogue: gelu_tanh\(add\(in0, in1\)\)/);
  });

  it('an unknown pass or preset is a one-line user error', async () => {
    const pass = await loom('compile', 'gpt2', '--dump-after', 'fuse-everything');
    expect(pass.code).toBe(1);
    expect(pass.stderr).toMatch(/^loom: error: unknown pass 'fuse-everything' for --dump-after; passes: infer-types, .*\n$/);
    const preset = await loom('compile', 'gpt3');
    expect(preset.code).toBe(1);
    expect(preset.stderr).toMatch(/^loom: error: unknown model 'gpt3': not a preset \(transformer-base, .*\) and no such file \(a graph JSON or a config\.json\)\n$/);
  });
});

describe("compile and verify take the user's own models: a graph JSON or a Hugging Face config.json, told apart by content", () => {
  const dir = mkdtempSync(join(tmpdir(), 'loom-models-'));
  const graphFile = join(dir, 'block.graph.json');
  writeFileSync(graphFile, graphToJson(paddedAttentionBlock()));

  it('a graph JSON (graphToJson output) compiles, with --batch and --seq binding the symbols, and verifies', async () => {
    const report = await loom('compile', graphFile, '--report', '--batch', '2', '--seq', '16');
    expect(report.code, report.stderr).toBe(0);
    expect(JSON.parse(report.stdout)).toMatchObject({ model: graphFile, kind: 'graph JSON', bindings: { batch: 2, seq: 16 } });
    const small = JSON.parse((await loom('compile', graphFile, '--report', '--seq', '4')).stdout) as { plannedPeakBytes: number };
    expect(small.plannedPeakBytes).toBeLessThan(JSON.parse(report.stdout).plannedPeakBytes);
    const plan = await loom('compile', graphFile, '--plan');
    expect(plan.stdout).toContain('fused_attention');
    const verified = await loom('verify', graphFile, '--backends', 'cpu', '--runs', '3', '--max-seq', '4');
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain('ok: cpu agree with the float64 reference');
  });

  it('a Llama or Marian config.json compiles by its model_type', async () => {
    const llama = JSON.parse((await loom('compile', join(FIXTURES, 'llama-tiny-dev.config.json'), '--report')).stdout) as { kind: string; kernels: number };
    expect(llama.kind).toBe('llama');
    const marianConfig = join(dir, 'marian.config.json');
    writeFileSync(marianConfig, JSON.stringify({ model_type: 'marian', d_model: 16, encoder_layers: 1, decoder_layers: 1, encoder_attention_heads: 2, decoder_attention_heads: 2, encoder_ffn_dim: 32, decoder_ffn_dim: 32, vocab_size: 50, max_position_embeddings: 32, pad_token_id: 49, decoder_start_token_id: 49 }));
    const marian = await loom('compile', marianConfig, '--report');
    expect(marian.code, marian.stderr).toBe(0);
    expect(JSON.parse(marian.stdout)).toMatchObject({ kind: 'marian' });
    const verified = await loom('verify', marianConfig, '--backends', 'cpu', '--runs', '2', '--max-seq', '3');
    expect(verified.code, verified.stderr).toBe(0);
  });

  it('a file that is none of them, or a broken graph JSON, is one error saying so', async () => {
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ hello: 'world' }));
    const none = await loom('compile', other);
    expect(none.stderr).toBe(`loom: error: ${other}: neither a Loom graph JSON (no "format": "loom-graph") nor a Hugging Face config.json (no model_type)\n`);
    const bert = join(dir, 'bert.json');
    writeFileSync(bert, JSON.stringify({ model_type: 'bert' }));
    expect((await loom('verify', bert)).stderr).toMatch(/model_type "bert", which Loom does not build \(supported: gpt2, llama, mistral, qwen2, mixtral, gemma, gemma2, gpt_neox, phi3, marian\)/);
    const notJson = join(dir, 'notes.txt');
    writeFileSync(notJson, 'not json');
    expect((await loom('compile', notJson)).stderr).toMatch(/notes\.txt: not JSON/);
    const broken = join(dir, 'broken.graph.json');
    writeFileSync(broken, JSON.stringify({ format: 'loom-graph', version: 1, nodes: [{ id: 0, op: 'input', inputs: [], attrs: {} }], outputs: [] }));
    const bad = await loom('compile', broken);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^loom: error: .*broken\.graph\.json: .*\$\.nodes\[0\]/);
  });
});

describe('loom verify', () => {
  it('checks the cpu backend against the float64 reference on a GPT-2 config', async () => {
    const { code, stdout } = await loom('verify', join(FIXTURES, 'gpt2-tiny.config.json'), '--backends', 'cpu', '--runs', '3', '--max-seq', '5');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^(run \d: input_ids \[\d, \d\], attention_mask \[\d, \d\]: cpu \d\.\d\de-\d+\n){3}cpu: max \|error\| \d\.\d\de-\d+ over 3 runs\nok: cpu agree with the float64 reference\n$/);
  });

  it('rejects unknown backends and models', async () => {
    const backend = await loom('verify', 'gpt2', '--backends', 'cpu,tpu');
    expect(backend.code).toBe(1);
    expect(backend.stderr).toMatch(/unknown backend\(s\) tpu/);
    const model = await loom('verify', 'gpt5');
    expect(model.code).toBe(1);
    expect(model.stderr).toMatch(/^loom: error: unknown model 'gpt5'/);
  });

  it('bounds what one run may ask: runs, sizes, and the memory of the random weights (checked before allocating)', async () => {
    const runs = await loom('verify', 'gpt2', '--runs', '1000000');
    expect(runs.code).toBe(1);
    expect(runs.stderr).toMatch(/--runs must be at most 10000, got 1000000/);
    const seq = await loom('verify', 'gpt2', '--max-seq', '100000');
    expect(seq.code).toBe(1);
    expect(seq.stderr).toMatch(/--max-seq must be at most 4096, got 100000/);
    const dir = mkdtempSync(join(tmpdir(), 'loom-verify-'));
    const cfg = JSON.parse(readFileSync(join(FIXTURES, 'gpt2-tiny.config.json'), 'utf8')) as Record<string, unknown>;
    const huge = join(dir, 'huge-vocab.json');
    writeFileSync(huge, JSON.stringify({ ...cfg, vocab_size: 8_000_000 }));
    const memory = await loom('verify', huge, '--backends', 'cpu');
    expect(memory.code).toBe(1);
    // a config's sizes are checked before its graph is built
    expect(memory.stderr).toMatch(/^loom: error: .*huge-vocab\.json: 2 layers of width 64 \(MLP 256\), vocabulary 8000000, 128 positions = [\d,]+ parameters, [\d.]+ GiB of random weights \(float64 for the reference, float32 for the backends\), above the memory budget of 4\.0 GiB \(--max-memory 4096 MiB\)/);
  });

  it('--timeout stops starting runs and says how many ran; each run prints its result as it finishes; a bar on a terminal only; --quiet keeps the summary', async () => {
    const { code, stdout } = await loom('verify', join(FIXTURES, 'gpt2-tiny.config.json'), '--backends', 'cpu', '--runs', '10000', '--max-seq', '3', '--timeout', '1', '--quiet');
    expect(code).toBe(0);
    const m = /ok: cpu agree with the float64 reference \(stopped by --timeout 1 s after (\d+) of 10000 runs\)/.exec(stdout);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(10000);
    expect(stdout).not.toMatch(/^run \d+:/m);
    const updates: [string, number, string][] = [];
    let out = '';
    const bar = (label: string, total: number) => ({ update: (done: number, detail = '') => void updates.push([label, total, `${done} ${detail}`]), interrupt: (write: () => void) => write(), stop: () => void updates.push([label, total, 'stop']) });
    const withBar = await runCli(['verify', join(FIXTURES, 'gpt2-tiny.config.json'), '--runs', '2', '--max-seq', '3'], { out: (t) => void (out += t), err: () => undefined, bar });
    expect(withBar).toBe(0);
    expect(updates).toEqual([['verify', 2, '0 run 1'], ['verify', 2, '1 run 2'], ['verify', 2, 'stop']]);
    expect(out).toMatch(/^run 1: input_ids \[\d, \d\], attention_mask \[\d, \d\]: cpu \d\.\d\de-\d+\nrun 2: .*\ncpu: max \|error\| .* over 2 runs\nok: cpu agree with the float64 reference\n$/);
  });
});

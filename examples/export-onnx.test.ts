/**
 * `loom export --format onnx`: the exported files run in onnxruntime-node and agree with Loom's
 * float64 reference on the fixtures: GPT-2 tiny, the Llama-family dev model (BF16 weights, GQA,
 * RoPE), the trained encoder-decoder (reverse model), a Marian checkpoint; external data above the
 * size limit; and the graphs the export does not cover are one clear error.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceBackend } from '@loom/backends';
import { exportOnnx } from '@loom/compiler';
import { maxAbsDiff, type NDArray } from '@loom/graph';
import { writeFileAtomic, writeSafetensorsFile } from '@loom/graph/node';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { runCli } from '../packages/models/src/cli/run-cli.ts';
import { buildCachedGpt2 } from '../packages/models/src/gpt2/model.ts';
import { gpt2ConfigFromHf } from '../packages/models/src/gpt2/config.ts';
import { modelWithWeights } from '../packages/models/src/io/model-with-weights.ts';
import { FIXTURES, fixtureJson } from '../packages/models/test/helpers.ts';
import { tinyMarian } from '../packages/models/test/marian-reference.ts';
import { FAMILY_CASES } from '../packages/models/test/decoder-families-suite.ts';

const WEIGHTS = new URL('../packages/models/weights/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'loom-onnx-'));

async function loom(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { out: (t) => void (stdout += t), err: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

const i32 = (shape: number[], values: readonly number[]): NDArray => ({ dtype: 'i32', shape, data: Int32Array.from(values) });

/** Runs the ONNX file in onnxruntime and the same graph on Loom's reference; returns the worst difference over the outputs. */
async function agreement(file: string, source: Parameters<typeof modelWithWeights>[0], feeds: Record<string, NDArray>): Promise<number> {
  const session = await ort.InferenceSession.create(file);
  const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('int32', v.data as Int32Array, [...v.shape])]));
  const got = await session.run(ortFeeds);
  const { graph, weights } = modelWithWeights(source);
  const want = await (await referenceBackend.prepare(graph, weights)).run(feeds);
  let worst = 0;
  for (const [name, value] of Object.entries(want)) {
    expect([...got[name]!.dims]).toEqual(value.shape);
    worst = Math.max(worst, maxAbsDiff(got[name]!.data as Float32Array, value.data));
  }
  return worst;
}

describe('loom export --format onnx', () => {
  it('GPT-2 tiny: onnxruntime runs the file (symbolic batch and sequence) and agrees with the float64 reference within 1e-4', async () => {
    const source = { weights: join(FIXTURES, 'gpt2-tiny.safetensors'), config: join(FIXTURES, 'gpt2-tiny.config.json') };
    const out = join(dir, 'gpt2.onnx');
    const r = await loom('export', '--format', 'onnx', '--weights', source.weights, '--config', source.config, '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote .*gpt2\.onnx \(gpt2, [\d.]+ MiB\): inputs input_ids i32\[batch, seq\], attention_mask i32\[batch, seq\]; outputs logits/);
    const ids = fixtureJson<{ prompt_ids: number[] }>('gpt2-tiny.json').prompt_ids;
    const err = await agreement(out, source, { input_ids: i32([2, 4], [...ids.slice(0, 4), ...ids.slice(2, 6)]), attention_mask: i32([2, 4], [1, 1, 1, 1, 1, 1, 1, 0]) });
    console.log(`gpt2-tiny onnx: max abs diff vs reference ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
  });

  it('llama-tiny-dev (RMSNorm, RoPE, GQA, SwiGLU; BF16 weights) agrees within 1e-4', async () => {
    const source = { weights: join(FIXTURES, 'llama-tiny-dev.safetensors'), config: join(FIXTURES, 'llama-tiny-dev.config.json') };
    const out = join(dir, 'llama.onnx');
    expect((await loom('export', '--format', 'onnx', '--weights', source.weights, '--config', source.config, '--out', out)).code).toBe(0);
    const ids = fixtureJson<{ ids: number[] }>('llama-tiny-dev.json').ids;
    const err = await agreement(out, source, { input_ids: i32([1, ids.length], ids), attention_mask: i32([1, ids.length], ids.map(() => 1)) });
    console.log(`llama-tiny-dev onnx: max abs diff vs reference ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
  });

  it('the encoder-decoder (the trained reverse model) and a Marian checkpoint: memory and teacher-forced logits within 1e-4', async () => {
    const reverse = { weights: join(WEIGHTS, 'reverse-transformer.safetensors'), config: join(WEIGHTS, 'reverse.json') };
    const out = join(dir, 'reverse.onnx');
    expect((await loom('export', '--format', 'onnx', '--weights', reverse.weights, '--config', reverse.config, '--out', out)).code).toBe(0);
    const feeds = { src_ids: i32([2, 5], [5, 6, 7, 8, 2, 9, 10, 2, 0, 0]), tgt_ids: i32([2, 3], [1, 8, 7, 1, 10, 9]) };
    expect(await agreement(out, reverse, feeds)).toBeLessThan(1e-4);
    const marian = tinyMarian(7);
    await writeSafetensorsFile(join(dir, 'marian.safetensors'), marian.tensors);
    writeFileSync(join(dir, 'marian.config.json'), JSON.stringify(marian.config));
    const m = { weights: join(dir, 'marian.safetensors'), config: join(dir, 'marian.config.json') };
    expect((await loom('export', '--format', 'onnx', '--weights', m.weights, '--config', m.config, '--out', join(dir, 'marian.onnx'))).code).toBe(0);
    expect(await agreement(join(dir, 'marian.onnx'), m, { src_ids: i32([1, 4], [17, 23, 9, 0]), tgt_ids: i32([1, 3], [39, 5, 11]) })).toBeLessThan(1e-4);
  });

  it.each(FAMILY_CASES)('%s: onnxruntime runs the export (windows and soft-caps as masks, top_k and the experts as Gather + MatMul) within 1e-4', async (label, make) => {
    const c = make();
    const name = label.split(' ')[0]!;
    const source = { weights: join(dir, `${name}.safetensors`), config: join(dir, `${name}.config.json`) };
    await writeSafetensorsFile(source.weights, c.checkpoint);
    writeFileSync(source.config, JSON.stringify(c.config));
    const out = join(dir, `${name}.onnx`);
    const r = await loom('export', '--format', 'onnx', '--weights', source.weights, '--config', source.config, '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const ids = [3, 17, 42, 8, 8, 29, 1, 5, 33, 12];
    expect(await agreement(out, source, { input_ids: i32([2, 10], [...ids, ...ids.slice(0, 6), 0, 0, 0, 0]), attention_mask: i32([2, 10], [...ids.map(() => 1), 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]) })).toBeLessThan(1e-4);
  });

  it('weights above the limit go to an external data file beside the model, which onnxruntime reads', async () => {
    const cfg = gpt2ConfigFromHf(fixtureJson('gpt2-tiny.config.json'));
    const source = { weights: join(FIXTURES, 'gpt2-tiny.safetensors'), config: join(FIXTURES, 'gpt2-tiny.config.json') };
    const { graph, weights } = modelWithWeights(source);
    const { model, externalData } = exportOnnx(graph, weights, { externalAbove: 0, externalName: 'small.onnx.data' });
    expect(externalData!.byteLength).toBeGreaterThan(cfg.vocabSize * cfg.nEmbd * 4);
    expect(model.length).toBeLessThan(externalData!.byteLength / 10);
    writeFileSync(join(dir, 'small.onnx'), model);
    await writeFileAtomic(join(dir, 'small.onnx.data'), externalData!.chunks(), { replace: false });
    expect(statSync(join(dir, 'small.onnx.data')).size).toBe(externalData!.byteLength);
    expect(await agreement(join(dir, 'small.onnx'), source, { input_ids: i32([1, 3], [1, 2, 3]), attention_mask: i32([1, 3], [1, 1, 1]) })).toBeLessThan(1e-4);
  });

  it('a constant stored as one value for a larger shape runs as that value expanded to the shape', async () => {
    const node = (id: number, op: string, inputs: number[], attrs: object, dtype: string, shape: number[]) => ({ id, op, inputs, attrs, type: { dtype, shape } });
    const json = {
      format: 'loom-graph',
      version: 1,
      nodes: [
        node(0, 'input', [], { name: 'ids', dtype: 'i32', shape: [2, 3] }, 'i32', [2, 3]),
        node(1, 'cast', [0], { dtype: 'f32' }, 'f32', [2, 3]),
        node(2, 'constant', [], { dtype: 'f32', shape: [2, 3], values: [0.5] }, 'f32', [2, 3]),
        node(3, 'add', [1, 2], {}, 'f32', [2, 3]),
      ],
      outputs: [{ name: 'y', node: 3 }],
    };
    const source = { model: join(dir, 'filled.json'), randomWeights: true };
    writeFileSync(source.model, JSON.stringify(json));
    expect((await loom('export', '--format', 'onnx', source.model, '--random-weights', '--out', join(dir, 'filled.onnx'))).code).toBe(0);
    expect(await agreement(join(dir, 'filled.onnx'), source, { ids: i32([2, 3], [1, 2, 3, 4, 5, 6]) })).toBe(0);
  });

  it('what the export does not take is one clear error: a KV-cache graph, missing weights, an existing file', async () => {
    const cfg = gpt2ConfigFromHf(fixtureJson('gpt2-tiny.config.json'));
    expect(() => exportOnnx(buildCachedGpt2(cfg, { seq: 1 }), modelWithWeights({ config: join(FIXTURES, 'gpt2-tiny.config.json'), randomWeights: true }).weights)).toThrow(/cache_update .*KV-cache graphs are not exported/);
    const noWeights = await loom('export', '--format', 'onnx', 'gpt2', '--out', join(dir, 'x.onnx'));
    expect(noWeights.stderr).toMatch(/^loom: error: give the weights: --weights W .* or ask for --random-weights\n$/);
    const exists = join(dir, 'exists.onnx');
    writeFileSync(exists, 'keep me');
    const refused = await loom('export', '--format', 'onnx', 'transformer-base', '--random-weights', '--out', exists);
    expect(refused.stderr).toMatch(/already exists; pass --force/);
    expect(readFileSync(exists, 'utf8')).toBe('keep me');
  });
});

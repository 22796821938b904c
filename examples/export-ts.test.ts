/**
 * `loom export --format ts`: the emitted module typechecks with the project's strict settings,
 * imports nothing of @loom/compiler (its bundle's inputs say so), and computes what the float64
 * reference computes on GPT-2 tiny and on the trained encoder-decoder (the reverse model).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuBackend, referenceBackend, type WebGpuBackend } from '@loom/backends';
import { maxAbsDiff, type NDArray } from '@loom/graph';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { requireBackend } from '../packages/backends/test/require-backend.ts';
import { runCli } from '../packages/models/src/cli/run-cli.ts';
import { modelWithWeights } from '../packages/models/src/io/model-with-weights.ts';
import { FIXTURES, fixtureJson, fixtureTensors, tensor } from '../packages/models/test/helpers.ts';

const WEIGHTS = fileURLToPath(new URL('../packages/models/weights/', import.meta.url));
// inside examples/ (gitignored), so that the module's '@loom/backends/aot' resolves as a user's would
const root = fileURLToPath(new URL('./.aot/', import.meta.url));
mkdirSync(root, { recursive: true });
const dir = mkdtempSync(join(root, 'test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function loom(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { out: (t) => void (stdout += t), err: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

/** tsc's diagnostics for a file, with the repository's strict options. */
function typecheck(file: string): string[] {
  const options: ts.CompilerOptions = { strict: true, noUncheckedIndexedAccess: true, noImplicitOverride: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, allowImportingTsExtensions: true, noEmit: true, skipLibCheck: true, lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'] };
  const program = ts.createProgram([file], options);
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

/** The files a bundle of the module reads (esbuild's metafile), relative to the repository. */
async function importGraph(file: string): Promise<string[]> {
  const require = createRequire(fileURLToPath(new URL('../packages/backends/package.json', import.meta.url)));
  // esbuild is the backends package's (the browser page's bundler), not this folder's dependency
  const { build } = (await import(require.resolve('esbuild'))) as { build(options: object): Promise<{ metafile: { inputs: Record<string, unknown> } }> };
  const result = await build({ entryPoints: [file], bundle: true, write: false, metafile: true, platform: 'node', format: 'esm', logLevel: 'silent' });
  return Object.keys(result.metafile.inputs);
}

const i32 = (shape: number[], values: readonly number[]): NDArray => ({ dtype: 'i32', shape, data: Int32Array.from(values) });

describe('loom export --format ts', () => {
  it('GPT-2 tiny: a typed, standalone module that equals the float64 reference', async () => {
    const out = join(dir, 'gpt2.ts');
    const r = await loom('export', '--format', 'ts', '--config', join(FIXTURES, 'gpt2-tiny.config.json'), '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/readonly "input_ids": \{ readonly dtype: 'i32'; readonly shape: readonly \[batch: number, seq: number\]/);
    expect(text).toMatch(/\/\*\* Kernel \d+: node %\d+ fused_attention .*\(packages\/models\/src\/gpt2\/model\.ts:\d+\) \*\//);
    expect(text).toContain('export const PLAN: Plan = ');
    expect(typecheck(out)).toEqual([]);
    const inputs = await importGraph(out);
    expect(inputs.some((f) => f.includes('packages/backends/src/cpu/'))).toBe(true);
    expect(inputs.filter((f) => f.includes('packages/compiler/'))).toEqual([]);

    const { graph, weights } = modelWithWeights({ weights: join(FIXTURES, 'gpt2-tiny.safetensors'), config: join(FIXTURES, 'gpt2-tiny.config.json') });
    const ids = fixtureJson<{ prompt_ids: number[] }>('gpt2-tiny.json').prompt_ids.slice(0, 5);
    const feeds = { input_ids: i32([1, 5], ids), attention_mask: i32([1, 5], [1, 1, 1, 1, 1]) };
    const module = (await import(out)) as { run(inputs: unknown, weights: unknown): Promise<Record<string, NDArray>> };
    const got = await module.run(feeds, weights);
    const want = await (await referenceBackend.prepare(graph, weights)).run(feeds);
    expect(got['logits']!.shape).toEqual([1, 5, 50257]);
    const err = maxAbsDiff(got['logits']!.data, want['logits']!.data);
    console.log(`gpt2-tiny ts module: logits max abs diff vs reference ${err.toExponential(2)}`);
    expect(err).toBeLessThan(2e-5);
  }, 120_000);

  it('the reverse model (encoder-decoder): memory and teacher-forced logits within 1e-4 of the reference', async () => {
    const source = { weights: join(WEIGHTS, 'reverse-transformer.safetensors'), config: join(WEIGHTS, 'reverse.json') };
    const out = join(dir, 'reverse.ts');
    expect((await loom('export', '--format', 'ts', '--config', source.config, '--out', out)).code).toBe(0);
    expect(typecheck(out)).toEqual([]);
    const { graph, weights } = modelWithWeights(source);
    // the fixture's batch (3 padded sources, their shifted targets), on which the cpu backend is within 1e-4 of PyTorch
    const golden = fixtureTensors('reverse-golden.safetensors');
    const feeds = { src_ids: tensor(golden, 'src'), tgt_ids: tensor(golden, 'tgt_in') };
    const module = (await import(out)) as { run(inputs: unknown, weights: unknown): Promise<Record<string, NDArray>> };
    const got = await module.run(feeds, weights);
    const want = await (await referenceBackend.prepare(graph, weights)).run(feeds);
    for (const name of ['memory', 'logits']) expect(maxAbsDiff(got[name]!.data, want[name]!.data)).toBeLessThan(1e-4);
    // and exactly what the cpu backend computes: the same plan and kernels
    const cpu = await (await cpuBackend.prepare(graph, weights)).run(feeds);
    expect(maxAbsDiff(got['logits']!.data, cpu['logits']!.data)).toBe(0);
    expect((await loom('export', '--format', 'ts', '--config', source.config, '--weights', source.weights, '--out', join(dir, 'again.ts'))).stderr).toMatch(/--format ts writes code, not weights/);
  }, 120_000);
});

const gpu = (await requireBackend('webgpu')).backend as WebGpuBackend | undefined;

/** What an exported webgpu module exports. */
interface WebGpuModule {
  prepare(weights: unknown): Promise<{ run(inputs: unknown): Promise<Record<string, NDArray>>; device: string; dispose(): void }>;
  SYMBOLS: Record<string, number>;
}

describe('loom export --format ts --target webgpu', () => {
  it('sizes are bound: the symbols must be given, and only for the webgpu target', async () => {
    const config = join(FIXTURES, 'gpt2-tiny.config.json');
    const noSizes = await loom('export', '--format', 'ts', '--target', 'webgpu', '--config', config, '--out', join(dir, 'x.ts'));
    expect(noSizes.code).not.toBe(0);
    expect(noSizes.stderr).toMatch(/--target webgpu renders its kernels for fixed sizes: give a value for 'batch', 'seq'/);
    expect((await loom('export', '--format', 'ts', '--config', config, '--seq', '4', '--out', join(dir, 'x.ts'))).stderr).toMatch(/--batch, --seq and --bind are for --target webgpu/);
    expect((await loom('export', '--format', 'ts', '--target', 'webgpu', '--config', config, '--bind', 'seq=0', '--out', join(dir, 'x.ts'))).stderr).toMatch(/'seq=0' is not name=N/);
  });

  it.skipIf(!gpu)('GPT-2 tiny: WGSL kernels and a dispatch list that compute what the WebGPU backend computes, no compiler or renderer imported', async () => {
    const out = join(dir, 'gpt2-webgpu.ts');
    const r = await loom('export', '--format', 'ts', '--target', 'webgpu', '--config', join(FIXTURES, 'gpt2-tiny.config.json'), '--batch', '1', '--seq', '5', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/readonly "input_ids": \{ readonly dtype: 'i32'; readonly shape: readonly \[batch: 1, seq: 5\]/);
    // one constant per distinct kernel, its comment naming the steps, nodes and model lines that use it
    expect(text).toMatch(/\/\*\*\n \* WGSL for 2 dispatches:\n \* - step \d+: node %\d+ fused_attention \(packages\/models\/src\/gpt2\/model\.ts:\d+\)\n \* - step \d+: node %\d+ fused_attention .*\n \*\/\nconst k\d+_fused_attention = `/);
    expect(text).toMatch(/@compute @workgroup_size/);
    expect(text).toContain('export const DISPATCHES: readonly AotDispatch[] = [');
    expect(typecheck(out)).toEqual([]);
    const files = await importGraph(out);
    expect(files.some((f) => f.includes('packages/backends/src/aot-webgpu.ts'))).toBe(true);
    expect(files.filter((f) => f.includes('packages/compiler/') || f.includes('backends/src/webgpu/kernels/') || f.includes('backends/src/expr/') || f.includes('backends/src/cpu/'))).toEqual([]);

    const { graph, weights } = modelWithWeights({ weights: join(FIXTURES, 'gpt2-tiny.safetensors'), config: join(FIXTURES, 'gpt2-tiny.config.json') });
    const ids = fixtureJson<{ prompt_ids: number[] }>('gpt2-tiny.json').prompt_ids.slice(0, 5);
    const feeds = { input_ids: i32([1, 5], ids), attention_mask: i32([1, 5], [1, 1, 1, 1, 1]) };
    const module = (await import(out)) as WebGpuModule;
    expect(module.SYMBOLS).toEqual({ batch: 1, seq: 5 });
    const model = await module.prepare(weights);
    try {
      const got = await model.run(feeds);
      const want = await (await referenceBackend.prepare(graph, weights)).run(feeds);
      const err = maxAbsDiff(got['logits']!.data, want['logits']!.data);
      console.log(`gpt2-tiny webgpu ts module on ${model.device}: logits max abs diff vs reference ${err.toExponential(2)}`);
      expect(err).toBeLessThan(2e-5);
      const backend = await gpu!.prepare(graph, weights);
      expect(maxAbsDiff(got['logits']!.data, (await backend.run(feeds))['logits']!.data)).toBe(0);
      backend.dispose();
      // other sizes are refused by name, never run with kernels rendered for these
      const longer = { input_ids: i32([1, 6], [...ids, 1]), attention_mask: i32([1, 6], [1, 1, 1, 1, 1, 1]) };
      await expect(model.run(longer)).rejects.toThrow(/the inputs give seq = 6, but this module's kernels were rendered for batch = 1, seq = 5/);
    } finally {
      model.dispose();
    }
  }, 120_000);

  it.skipIf(!gpu)('the reverse model: memory and teacher-forced logits within 1e-4 of the reference', async () => {
    const source = { weights: join(WEIGHTS, 'reverse-transformer.safetensors'), config: join(WEIGHTS, 'reverse.json') };
    const golden = fixtureTensors('reverse-golden.safetensors');
    const feeds = { src_ids: tensor(golden, 'src'), tgt_ids: tensor(golden, 'tgt_in') };
    const [batch, srcSeq] = feeds.src_ids.shape;
    const tgtSeq = feeds.tgt_ids.shape[1]!;
    const out = join(dir, 'reverse-webgpu.ts');
    const r = await loom('export', '--format', 'ts', '--target', 'webgpu', '--config', source.config, '--bind', `batch=${batch},src_seq=${srcSeq},tgt_seq=${tgtSeq}`, '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(typecheck(out)).toEqual([]);
    const { graph, weights } = modelWithWeights(source);
    const model = await ((await import(out)) as WebGpuModule).prepare(weights);
    try {
      const got = await model.run(feeds);
      const want = await (await referenceBackend.prepare(graph, weights)).run(feeds);
      for (const name of ['memory', 'logits']) expect(maxAbsDiff(got[name]!.data, want[name]!.data)).toBeLessThan(1e-4);
    } finally {
      model.dispose();
    }
  }, 120_000);
});

/**
 * Writing output and `loom export` on hostile input: an --out that appears during the work is never
 * replaced without --force; ONNX external data is handed out tensor by tensor; tensors too large for
 * one array are one clear error before anything is allocated; a very long chain of ops compiles and
 * exports instead of overflowing the stack.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportOnnx, MAX_EXPR_OPS, onnxDataIsExternal, OnnxExportError, onnxWeightBytes, TensorSizeError } from '@loom/compiler';
import { graphFromJson, readSafetensors, type NDArray } from '@loom/graph';
import { describe, expect, it, vi } from 'vitest';
import { expectUserError, loom } from './cli-helpers.ts';
import { FIXTURES } from './helpers.ts';

// a hook that runs after the command has checked --out and before it writes: the window in which
// another process may create the file
const duringWork = vi.hoisted(() => ({ hook: undefined as (() => void) | undefined }));
vi.mock('../src/io/model-with-weights.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/io/model-with-weights.ts')>();
  return {
    ...real,
    modelGraph: (...args: Parameters<typeof real.modelGraph>) => afterHook(real.modelGraph(...args)),
    modelWithWeights: (...args: Parameters<typeof real.modelWithWeights>) => afterHook(real.modelWithWeights(...args)),
  };
});
vi.mock('../src/io/load-causal-lm.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/io/load-causal-lm.ts')>();
  return { ...real, loadCausalLm: async (...args: Parameters<typeof real.loadCausalLm>) => afterHook(await real.loadCausalLm(...args)) };
});
function afterHook<T>(value: T): T {
  duringWork.hook?.();
  return value;
}

const CONFIG = join(FIXTURES, 'gpt2-tiny.config.json');
const WEIGHTS = join(FIXTURES, 'gpt2-tiny.safetensors');

/** A node of a graph file: its type is f32 of `shape`. */
interface NodeSpec {
  op: string;
  inputs?: number[];
  attrs: Record<string, unknown>;
  shape: (number | string)[];
}

/** loom-graph JSON text of the given nodes; the last is the output `y`. */
function graphJson(nodes: NodeSpec[]): string {
  const json = {
    format: 'loom-graph',
    version: 1,
    nodes: nodes.map((n, id) => ({ id, op: n.op, inputs: n.inputs ?? [], attrs: n.attrs, type: { dtype: 'f32', shape: n.shape } })),
    outputs: [{ name: 'y', node: nodes.length - 1 }],
  };
  return JSON.stringify(json);
}

function graphFile(dir: string, name: string, nodes: NodeSpec[]): string {
  const path = join(dir, name);
  writeFileSync(path, graphJson(nodes));
  return path;
}

/** x, then `length` neg nodes in a chain. */
function chainFile(dir: string, length: number): string {
  const nodes: NodeSpec[] = [{ op: 'input', attrs: { name: 'x', dtype: 'f32', shape: [4] }, shape: [4] }];
  for (let i = 1; i <= length; i++) nodes.push({ op: 'neg', inputs: [i - 1], attrs: {}, shape: [4] });
  return graphFile(dir, `chain-${length}.json`, nodes);
}

describe('an --out that appears while the command works', () => {
  const commands: [string, (out: string) => string[]][] = [
    ['export --format ts', (out) => ['export', '--format', 'ts', '--config', CONFIG, '--out', out]],
    ['export --format onnx', (out) => ['export', '--format', 'onnx', '--weights', WEIGHTS, '--config', CONFIG, '--out', out]],
    ['logits', (out) => ['logits', '--weights', WEIGHTS, '--config', CONFIG, '--ids', '1,2', '--quiet', '--out', out]],
  ];

  it.each(commands)('%s: is not replaced without --force (a FileError; the file untouched, no temporary file left)', async (_, args) => {
    const dir = mkdtempSync(join(tmpdir(), 'loom-race-'));
    const out = join(dir, 'out.bin');
    duringWork.hook = () => writeFileSync(out, 'created meanwhile');
    try {
      expectUserError(await loom(...args(out)), /--out '.*out\.bin' appeared while Loom was working; it was left as it is; pass --force to replace it/);
    } finally {
      duringWork.hook = undefined;
    }
    expect(readFileSync(out, 'utf8')).toBe('created meanwhile');
    expect(readdirSync(dir)).toEqual(['out.bin']);
  }, 60_000);

  it('with --force it is replaced (logits: the new file holds the logits)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loom-race-'));
    const out = join(dir, 'out.safetensors');
    duringWork.hook = () => writeFileSync(out, 'created meanwhile');
    try {
      const r = await loom(...commands[2]![1](out), '--force');
      expect(r.code, r.stderr).toBe(0);
    } finally {
      duringWork.hook = undefined;
    }
    expect([...readSafetensors(new Uint8Array(readFileSync(out))).tensors.keys()]).toEqual(['logits']);
    expect(readdirSync(dir)).toEqual(['out.safetensors']);
  });
});

describe('--out and its data file are checked before the work', () => {
  const tiny = (out: string, ...rest: string[]) => ['export', '--format', 'onnx', '--weights', WEIGHTS, '--config', CONFIG, '--out', out, ...rest];

  it('an --out in a folder that does not exist (or is a file) is refused before the model is built, naming the folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loom-nofolder-'));
    let built = false;
    duringWork.hook = () => (built = true);
    try {
      for (const format of ['onnx', 'ts']) {
        const r = await loom('export', '--format', format, '--config', CONFIG, ...(format === 'onnx' ? ['--weights', WEIGHTS] : []), '--out', join(dir, 'missing', 'model.out'));
        expectUserError(r, /cannot write --out '.*missing\/model\.out': the folder '.*loom-nofolder-\w+\/missing' does not exist$/);
      }
      writeFileSync(join(dir, 'a-file'), '');
      expectUserError(await loom(...tiny(join(dir, 'a-file', 'model.onnx'))), /cannot write --out '.*a-file\/model\.onnx': '.*a-file' is not a folder$/);
    } finally {
      duringWork.hook = undefined;
    }
    expect(built).toBe(false);
  });

  it("a write that fails during the work names the user's --out, not the temporary file", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loom-gone-'));
    const folder = join(dir, 'sub');
    mkdirSync(folder);
    duringWork.hook = () => rmSync(folder, { recursive: true });
    try {
      const r = await loom(...tiny(join(folder, 'model.onnx')));
      expectUserError(r, /cannot write '.*sub\/model\.onnx': no such file or directory \(ENOENT\)$/);
      expect(r.stderr).not.toMatch(/\.tmp/);
    } finally {
      duringWork.hook = undefined;
    }
  });

  it('an existing <out>.data is refused before any weight is read when the weights go past 2 GiB; a small model leaves it alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loom-data-'));
    // 600M f32 weights (2.2 GiB): external data; the weights file named does not exist, so reading it would fail first
    const big = graphFile(dir, 'big.json', [
      { op: 'input', attrs: { name: 'x', dtype: 'f32', shape: [600_000_000] }, shape: [600_000_000] },
      { op: 'param', attrs: { name: 'w', dtype: 'f32', shape: [600_000_000] }, shape: [600_000_000] },
      { op: 'add', inputs: [0, 1], attrs: {}, shape: [600_000_000] },
    ]);
    writeFileSync(join(dir, 'big.onnx.data'), 'mine');
    const r = await loom('export', '--format', 'onnx', big, '--weights', join(dir, 'never-read.safetensors'), '--out', join(dir, 'big.onnx'));
    expectUserError(r, /the ONNX data file '.*big\.onnx\.data' already exists and would be replaced: the weights \(2289 MiB\) are too large for the model file itself .*; pass --force to replace it$/);
    expect(readFileSync(join(dir, 'big.onnx.data'), 'utf8')).toBe('mine');
    // the tiny GPT-2 stays inline: its data file is never written, so one there is no obstacle
    writeFileSync(join(dir, 'tiny.onnx.data'), 'mine too');
    const tinyRun = await loom(...tiny(join(dir, 'tiny.onnx')));
    expect(tinyRun.code, tinyRun.stderr).toBe(0);
    expect(readFileSync(join(dir, 'tiny.onnx.data'), 'utf8')).toBe('mine too');
  });

  it('onnxDataIsExternal tells before the export what exportOnnx does', () => {
    const graph = graphFromJson(
      graphJson([
        { op: 'input', attrs: { name: 'x', dtype: 'f32', shape: [300] }, shape: [300] },
        { op: 'param', attrs: { name: 'a', dtype: 'f32', shape: [300] }, shape: [300] },
        { op: 'constant', attrs: { dtype: 'f32', shape: [300], values: [2] }, shape: [300] },
        { op: 'add', inputs: [0, 1], attrs: {}, shape: [300] },
        { op: 'mul', inputs: [3, 2], attrs: {}, shape: [300] },
      ]),
    );
    expect(onnxWeightBytes(graph)).toBe(1204);
    const weights = new Map([['a', { dtype: 'f32', shape: [300], data: new Float32Array(300) } as NDArray]]);
    // (the export adds a few bytes of int64 shapes, here the constant's: the prediction is a lower bound,
    // and the command checks the data file again before it writes it)
    for (const externalAbove of [0, 1000, 1203, 4096, 2 ** 20]) {
      expect(onnxDataIsExternal(graph, { externalAbove }), `externalAbove ${externalAbove}`).toBe(exportOnnx(graph, weights, { externalAbove }).externalData !== undefined);
    }
  });
});

describe('ONNX external data', () => {
  const f32 = (shape: number[], seed: number): NDArray => ({ dtype: 'f32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => seed + i / 1000) });
  const graph = graphFromJson(
    graphJson([
      { op: 'input', attrs: { name: 'x', dtype: 'f32', shape: [3, 300] }, shape: [3, 300] },
      { op: 'param', attrs: { name: 'a', dtype: 'f32', shape: [300] }, shape: [300] },
      { op: 'param', attrs: { name: 'b', dtype: 'f32', shape: [3, 300] }, shape: [3, 300] },
      { op: 'param', attrs: { name: 'c', dtype: 'f32', shape: [5] }, shape: [5] },
      { op: 'add', inputs: [0, 1], attrs: {}, shape: [3, 300] },
      { op: 'mul', inputs: [4, 2], attrs: {}, shape: [3, 300] },
      { op: 'reshape', inputs: [5], attrs: { shape: [180, 5] }, shape: [180, 5] },
      { op: 'add', inputs: [6, 3], attrs: {}, shape: [180, 5] },
    ]),
  );

  it('is handed out tensor by tensor: each chunk a view of the weight itself or zero padding, never one array of all data', () => {
    const weights = new Map([['a', f32([300], 1)], ['b', f32([3, 300], 2)], ['c', f32([5], 3)]]);
    const { model, externalData } = exportOnnx(graph, weights, { externalAbove: 0, externalName: 'g.onnx.data' });
    const chunks = [...externalData!.chunks()];
    const views = chunks.filter((c) => c.some((v) => v !== 0));
    // a and b (1 KiB or more) go out, each as its own weight's bytes (the same memory); c (20 bytes) stays in the model
    expect(views).toHaveLength(2);
    expect(views[0]!.buffer).toBe(weights.get('a')!.data.buffer);
    expect(views[1]!.buffer).toBe(weights.get('b')!.data.buffer);
    for (const pad of chunks.filter((c) => !views.includes(c))) expect(pad.length).toBeLessThan(64);
    expect(chunks.reduce((n, c) => n + c.length, 0)).toBe(externalData!.byteLength);
    expect(model.length).toBeLessThan(2048);
  });

  it('a filled constant is a scalar expanded at run time: a 1000 x 1000 constant costs bytes, not 4 MB', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loom-const-'));
    const file = graphFile(dir, 'const.json', [
      { op: 'input', attrs: { name: 'x', dtype: 'f32', shape: [1000, 1000] }, shape: [1000, 1000] },
      { op: 'constant', attrs: { dtype: 'f32', shape: [1000, 1000], values: [0.5] }, shape: [1000, 1000] },
      { op: 'add', inputs: [0, 1], attrs: {}, shape: [1000, 1000] },
    ]);
    const out = join(dir, 'const.onnx');
    const r = await loom('export', '--format', 'onnx', file, '--random-weights', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).length).toBeLessThan(2048);
  });
});

describe('tensors too large for one array', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loom-huge-'));
  const bigParam = graphFile(dir, 'big-param.json', [
    { op: 'input', attrs: { name: 'x', dtype: 'f32', shape: [100000] }, shape: [100000] },
    { op: 'param', attrs: { name: 'w', dtype: 'f32', shape: [100000, 100000, 100000] }, shape: [100000, 100000, 100000] },
    { op: 'add', inputs: [1, 0], attrs: {}, shape: [100000, 100000, 100000] },
  ]);
  const bigConstant = graphFile(dir, 'big-constant.json', [
    { op: 'input', attrs: { name: 'x', dtype: 'f32', shape: [1000000] }, shape: [1000000] },
    { op: 'constant', attrs: { dtype: 'f32', shape: [1000000, 1000000], values: [1.5] }, shape: [1000000, 1000000] },
    { op: 'add', inputs: [1, 0], attrs: {}, shape: [1000000, 1000000] },
  ]);

  it('export --format onnx / ts: one error naming the node and its element count', async () => {
    const out = join(dir, 'out');
    expectUserError(await loom('export', '--format', 'onnx', bigConstant, '--random-weights', '--out', out), /onnx export: constant f32\[1000000, 1000000\] \(node %1\) has 1000000000000 elements, more than one tensor may hold \(4294967296\)/);
    expectUserError(await loom('export', '--format', 'ts', bigConstant, '--out', out), /ts export: constant f32\[1000000, 1000000\] \(node %1\) has 1000000000000 elements/);
    expectUserError(await loom('export', '--format', 'ts', bigParam, '--out', out), /ts export: param 'w' f32\[100000, 100000, 100000\] \(node %1\) has 1000000000000000 elements/);
    expect(readdirSync(dir).sort()).toEqual(['big-constant.json', 'big-param.json']);
  });

  it('an input too large for one array: export --format onnx refuses it as --format ts does', async () => {
    const hugeInput = graphFile(dir, 'huge-input.json', [
      { op: 'input', attrs: { name: 'x', dtype: 'f32', shape: [2 ** 40, 2 ** 40] }, shape: [2 ** 40, 2 ** 40] },
      { op: 'neg', inputs: [0], attrs: {}, shape: [2 ** 40, 2 ** 40] },
    ]);
    const out = join(dir, 'huge-input.out');
    const message = (what: string) => new RegExp(`${what} export: input 'x' f32\\[1099511627776, 1099511627776\\] \\(node %0\\) has more than 9007199254740991 elements, more than one tensor may hold`);
    expectUserError(await loom('export', '--format', 'onnx', hugeInput, '--random-weights', '--out', out), message('onnx'));
    expectUserError(await loom('export', '--format', 'ts', hugeInput, '--out', out), message('ts'));
    expect(readdirSync(dir)).not.toContain('huge-input.out');
  });

  it('exportOnnx: a TensorSizeError before any weight is read; a weight whose data does not fit its shape is an OnnxExportError', () => {
    const huge = graphFromJson(readFileSync(bigParam, 'utf8'));
    expect(() => exportOnnx(huge, new Map())).toThrow(TensorSizeError);
    expect(() => exportOnnx(huge, new Map())).toThrow(/param 'w' f32\[100000, 100000, 100000\] \(node %1\) has 1000000000000000 elements/);
    const small = graphFromJson(graphJson([{ op: 'param', attrs: { name: 'w', dtype: 'f32', shape: [4] }, shape: [4] }]));
    const short: NDArray = { dtype: 'f32', shape: [4], data: new Float32Array(2) };
    expect(() => exportOnnx(small, new Map([['w', short]]))).toThrow(OnnxExportError);
    expect(() => exportOnnx(small, new Map([['w', short]]))).toThrow(/weight 'w' holds 2 values for f32\[4\] \(4 elements\)/);
    expect(() => exportOnnx(small, new Map([['w', { ...short, shape: [2] }]]))).toThrow(/weight 'w' is f32\[2\], the graph declares f32\[4\]/);
  });
});

describe('a long chain of ops (deeper than a recursive walk of one fused expression allows)', () => {
  const length = 1500;
  const dir = mkdtempSync(join(tmpdir(), 'loom-chain-'));
  const file = chainFile(dir, length);

  it(`check-graph, compile and export --format ts all work: kernels of at most ${MAX_EXPR_OPS} ops`, async () => {
    const checked = await loom('check-graph', file);
    expect(checked.code, checked.stderr).toBe(0);
    const compiled = await loom('compile', file, '--report', '--quiet');
    expect(compiled.code, compiled.stderr).toBe(0);
    expect((JSON.parse(compiled.stdout) as { kernels: number }).kernels).toBe(Math.ceil(length / MAX_EXPR_OPS));
    const out = join(dir, 'chain.ts');
    const exported = await loom('export', '--format', 'ts', file, '--out', out);
    expect(exported.code, exported.stderr).toBe(0);
    expect(readFileSync(out, 'utf8').match(/^function k\d+_fused_elementwise\(/gm)).toHaveLength(Math.ceil(length / MAX_EXPR_OPS));
  }, 120_000);
});

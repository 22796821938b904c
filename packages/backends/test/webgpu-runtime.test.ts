import { GraphBuilder, interpret, ModelBuilder, type Graph, type NDArray } from '@loom/graph';
import { planMemory } from '@loom/compiler';
import { describe, expect, it } from 'vitest';
import { verify } from '../src/index.ts';
import { createWebGpuBackend, DeviceLostError, GpuLimitError, GpuOutOfMemoryError, GpuRuntime, ModelDisposedError, kernelFor, UnsupportedOpError, WebGpuModel } from '../src/webgpu/index.ts';
import { compare, gpu, gpuWithLimits, randomF32, randomI32, rng } from './webgpu-helpers.ts';

/**
 * The WebGPU runtime around the kernels: memory stays flat over many runs, dispose frees every
 * buffer, and failures (device loss, out of memory, limits, unsupported ops) are typed errors.
 */

/** Token ids -> embedding -> linear -> softmax, with a symbolic sequence length. */
function smallModel(): { graph: Graph; weights: Map<string, NDArray> } {
  const r = rng(1);
  const b = new GraphBuilder();
  const ids = b.input('ids', 'i32', ['batch', 'seq']);
  const x = b.add('gather', [b.param('emb', 'f32', [40, 16]), ids]);
  const h = b.add('add', [b.add('matmul', [x, b.param('w', 'f32', [16, 24])]), b.param('bias', 'f32', [24])]);
  const graph = b.build({ probs: b.add('softmax', [b.add('gelu', [h])], { axis: -1 }), total: b.add('reduce_sum', [h], { axes: [1] }) });
  const weights = new Map([['emb', randomF32([40, 16], r)], ['w', randomF32([16, 24], r)], ['bias', randomF32([24], r)]]);
  return { graph, weights };
}

function ids(batch: number, seq: number, seed: number): NDArray {
  return randomI32([batch, seq], rng(seed), 0, 39);
}

function expectClose(got: Record<string, NDArray>, want: Record<string, NDArray>): void {
  for (const name of Object.keys(want)) expect(compare(got[name]!, want[name]!, { atol: 1e-5 }).worst).toBeLessThanOrEqual(1);
}

describe.skipIf(!gpu)('webgpu runtime', { timeout: 120_000 }, () => {
  it('200 consecutive runs leave GPU memory flat', async () => {
    const { graph, weights } = smallModel();
    const model = await gpu!.prepare(graph, weights);
    const runtime = await gpu!.runtime();
    const feeds = { ids: ids(2, 7, 1) };
    const first = await model.run(feeds);
    const after1 = { model: model.memory(), live: runtime.liveBuffers, bytes: runtime.liveBytes, pipelines: runtime.pipelineCount };
    for (let i = 0; i < 199; i++) await model.run(feeds);
    const last = await model.run(feeds);
    expect({ model: model.memory(), live: runtime.liveBuffers, bytes: runtime.liveBytes, pipelines: runtime.pipelineCount }).toEqual(after1);
    expect(Array.from(last['probs']!.data)).toEqual(Array.from(first['probs']!.data));
    console.log(`webgpu: 200 runs, model holds ${after1.model.buffers} buffers / ${after1.model.bytes} bytes throughout`);
    model.dispose();
  });

  it('changing sequence lengths grow the pool once, then stay flat; results stay right', async () => {
    const { graph, weights } = smallModel();
    const model = await gpu!.prepare(graph, weights);
    const lengths = [3, 50, 1, 17, 50, 3];
    for (const seq of lengths) expectClose(await model.run({ ids: ids(2, seq, seq) }), interpret(graph, { ids: ids(2, seq, seq) }, weights));
    const settled = model.memory();
    for (const seq of lengths) await model.run({ ids: ids(2, seq, seq) });
    expect(model.memory()).toEqual(settled);
    model.dispose();
  });

  it('concurrent runs are serialized and each gets its own answer', async () => {
    const { graph, weights } = smallModel();
    const model = await gpu!.prepare(graph, weights);
    const feeds = [1, 2, 3, 4, 5].map((s) => ({ ids: ids(1, s + 2, s) }));
    const results = await Promise.all(feeds.map((f) => model.run(f)));
    results.forEach((got, i) => expectClose(got, interpret(graph, feeds[i]!, weights)));
    model.dispose();
  });

  it('dispose destroys every buffer; running afterwards is a ModelDisposedError', async () => {
    const runtime = await gpu!.runtime();
    const before = { buffers: runtime.liveBuffers, bytes: runtime.liveBytes };
    const { graph, weights } = smallModel();
    const model = await gpu!.prepare(graph, weights);
    await model.run({ ids: ids(2, 5, 1) });
    expect(runtime.liveBuffers).toBeGreaterThan(before.buffers);
    model.dispose();
    expect({ buffers: runtime.liveBuffers, bytes: runtime.liveBytes }).toEqual(before);
    expect(model.memory()).toEqual({ buffers: 0, bytes: 0 });
    await expect(model.run({ ids: ids(2, 5, 1) })).rejects.toThrow(ModelDisposedError);
    model.dispose(); // twice is harmless
  });

  it('models with the same kernels share compiled pipelines', async () => {
    const { graph, weights } = smallModel();
    const runtime = await gpu!.runtime();
    const a = await gpu!.prepare(graph, weights);
    await a.run({ ids: ids(1, 4, 1) });
    const pipelines = runtime.pipelineCount;
    const b = await gpu!.prepare(graph, weights);
    await b.run({ ids: ids(3, 9, 2) });
    expect(runtime.pipelineCount).toBe(pipelines);
    a.dispose();
    b.dispose();
  });

  it('a lost device is a DeviceLostError; the backend acquires a new device for the next prepare', async () => {
    const backend = createWebGpuBackend(); // its own device: the shared one stays alive
    const b = new GraphBuilder();
    const graph = b.build({ y: b.add('exp', [b.input('x', 'f32', [5])]) });
    const feeds = { x: randomF32([5], rng(1)) };
    const model = await backend.prepare(graph, new Map());
    await model.run(feeds);
    (await backend.runtime()).device.destroy();
    const error = await model.run(feeds).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceLostError);
    expect((error as DeviceLostError).reason).toBe('destroyed');
    expect((error as Error).message).toMatch(/device lost \(destroyed\).*prepare the model again/);
    const again = await backend.prepare(graph, new Map());
    expectClose(await again.run(feeds), interpret(graph, feeds, new Map()));
    again.dispose();
    model.dispose();
  });

  it('an allocation the device refuses is a GpuOutOfMemoryError naming the tensors', async () => {
    const real = await gpu!.runtime();
    let popped = 0;
    // a device whose out-of-memory scope reports a failure, as a real driver would
    const failing = new Proxy(real.device, {
      get(target, key) {
        if (key === 'popErrorScope') {
          // createBuffers pops 'validation', then 'out-of-memory'
          return () => Promise.resolve(popped++ % 2 === 1 ? { message: 'Out of memory (simulated)' } : null);
        }
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const runtime = new GpuRuntime({ device: failing, limits: real.limits, description: 'test' });
    const b = new GraphBuilder();
    const graph = b.build({ y: b.add('neg', [b.param('big', 'f32', [1000])]) });
    const { compile } = await import('@loom/compiler');
    const error = await WebGpuModel.create(runtime, compile(graph), new Map([['big', randomF32([1000], rng(1))]]), { kernels: kernelFor }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GpuOutOfMemoryError);
    expect((error as Error).message).toMatch(/out of GPU memory: allocating 3.9 KiB for weight 'big' \(3.9 KiB\): Out of memory \(simulated\)/);
    expect(runtime.liveBuffers).toBe(0);
  });

  it('a model or run over the memory budget is a MemoryBudgetError with the numbers, before any allocation', async () => {
    const gpu = await gpuWithLimits({});
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['n']);
    const graph = b.build({ y: b.add('add', [b.add('neg', [x]), b.param('w', 'f32', [1])]) });
    const w = new Map([['w', randomF32([1], rng(2))]]);
    await expect(gpu.prepare(graph, w, { maxMemory: 2 })).rejects.toThrow(/webgpu: the model needs 0\.0 MiB \(weights 0\.0 MiB, constants 0\.0 MiB\), above the memory budget of 0\.0 MiB/);
    const model = await gpu.prepare(graph, w, { maxMemory: 2 ** 20 });
    await model.run({ x: randomF32([100], rng(1)) });
    await expect(model.run({ x: randomF32([400_000], rng(1)) })).rejects.toThrow(/webgpu: this run needs .* at n=400000\), above the memory budget of 1\.0 MiB/);
    model.dispose();
  });

  it('a tensor larger than maxBufferSize is a GpuLimitError naming it', async () => {
    const small = await gpuWithLimits({ maxBufferSize: 4096 });
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['n']);
    const graph = b.build({ y: b.add('neg', [x]) });
    const model = await small.prepare(graph, new Map());
    await model.run({ x: randomF32([1000], rng(1)) });
    await expect(model.run({ x: randomF32([2000], rng(1)) })).rejects.toThrow(/input 'x' needs 7.8 KiB, more than the device's maxBufferSize \(4.0 KiB\)/);
    model.dispose();
    const w = new GraphBuilder();
    const big = w.build({ y: w.add('neg', [w.param('big', 'f32', [2000])]) });
    await expect(small.prepare(big, new Map([['big', randomF32([2000], rng(1))]]))).rejects.toThrow(GpuLimitError);
    // a tiny graph declaring a huge constant: refused by size before any array is made (was a RangeError)
    const c = new GraphBuilder();
    const x1 = c.input('x', 'f32', [1]);
    const huge = c.build({ y: c.add('add', [c.constant(1, [20000, 20000]), x1]) });
    await expect(small.prepare(huge, new Map())).rejects.toThrow(/constant buffer #1 \(f32, 400000000 elements\) needs 1\.49 GiB, more than the device's maxBufferSize/);
  });

  it('verify(): random symbolic sizes and ids through attention agree with the reference (property)', async () => {
    const m = new ModelBuilder();
    const ids = m.input('ids', 'i32', ['batch', 'seq'] as const);
    const x = m.embed(ids, m.param('emb', [11, 8] as const));
    const y = m.attention(x, x, x, 2, m.causalMask(ids));
    const report = await verify(m.build({ y: m.softmax(m.add(x, y)) }), { backends: [gpu!], runs: 6, seed: 3, atol: 1e-5, rtol: 1e-4 });
    expect(report.ok, JSON.stringify(report.counterexample)).toBe(true);
    expect(report.agreements[0]!.maxAbsError).toBeLessThan(1e-5);
  });

  it('an op without a kernel is an UnsupportedOpError naming the op (no fallback)', async () => {
    const b = new GraphBuilder();
    const ids2 = b.input('ids', 'i32', [2]);
    const graph = b.build({ y: b.add('embed', [ids2, b.param('table', 'f32', [5, 3])]) });
    // a plan that skipped compile()'s expansion of composites
    const plan = planMemory(graph, graph.nodes.map((n) => n.id));
    const error = await WebGpuModel.create(await gpu!.runtime(), plan, new Map([['table', randomF32([5, 3], rng(1))]]), { kernels: kernelFor }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedOpError);
    expect((error as UnsupportedOpError).op).toBe('embed');
    expect((error as Error).message).toMatch(/no kernel for op 'embed': node %2 .*composite ops must be expanded by compile\(\) first/);
  });
});

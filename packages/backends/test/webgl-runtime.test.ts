import { GraphBuilder, interpret, type Graph, type NDArray } from '@loom/graph';
import gpujs from 'gpu.js';
import { describe, expect, it } from 'vitest';
import { createWebGlBackend, WebGlContextLostError, WebGlDisposedError, WebGlFallbackError, WebGlLimitError, type WebGlBackend } from '../src/webgl/index.ts';
import { requireBackend } from './require-backend.ts';
import { compare, randomF32, randomI32, rng } from './webgpu-data.ts';

/**
 * The WebGL runtime around the kernels: textures stay flat over many runs, dispose frees every
 * texture and kernel, a gpu.js fallback away from GL fails, and limits, context loss and integers
 * beyond float32's exact range are typed errors.
 */

const gl = (await requireBackend('webgl')).backend as WebGlBackend | undefined;

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

const ids = (batch: number, seq: number, seed: number): NDArray => randomI32([batch, seq], rng(seed), 0, 39);

function expectClose(got: Record<string, NDArray>, want: Record<string, NDArray>): void {
  for (const name of Object.keys(want)) expect(compare(got[name]!, want[name]!, { atol: 1e-5 }).worst).toBeLessThanOrEqual(1);
}

describe.skipIf(!gl)('webgl runtime', { timeout: 120_000 }, () => {
  it('200 consecutive runs leave the textures and kernels flat', async () => {
    const { graph, weights } = smallModel();
    const model = await gl!.prepare(graph, weights);
    const runtime = await gl!.runtime();
    const feeds = { ids: ids(2, 7, 1) };
    const first = await model.run(feeds);
    const after1 = { textures: runtime.liveTextures, kernels: model.kernelCount };
    for (let i = 0; i < 199; i++) await model.run(feeds);
    const last = await model.run(feeds);
    expect({ textures: runtime.liveTextures, kernels: model.kernelCount }).toEqual(after1);
    expect(Array.from(last['probs']!.data)).toEqual(Array.from(first['probs']!.data));
    console.log(`webgl: 200 runs, ${after1.textures} textures and ${after1.kernels} kernels throughout`);
    model.dispose();
  });

  it('a KV-cache decode loop (states in textures) keeps the textures flat', async () => {
    const b = new GraphBuilder();
    const cache = b.input('cache', 'f32', [1, 8, 4]);
    const updated = b.add('cache_update', [cache, b.input('x', 'f32', [1, 1, 4]), b.input('position', 'i32', [1])], { axis: 1 });
    const model = await gl!.prepare(b.build({ cache: updated, total: b.add('reduce_sum', [updated], { axes: [1] }) }), new Map());
    const runtime = await gl!.runtime();
    const step = async (p: number) => (await model.run({ x: { dtype: 'f32', shape: [1, 1, 4], data: Float32Array.of(p, p, p, p) }, position: { dtype: 'i32', shape: [1], data: Int32Array.of(p) } }))['total']!;
    await step(0);
    const textures = runtime.liveTextures;
    for (let p = 1; p < 8; p++) expect(Array.from((await step(p)).data)).toEqual(new Array(4).fill((p * (p + 1)) / 2));
    expect(runtime.liveTextures).toBe(textures);
    expect(Array.from((await model.readState('cache')).data.slice(28))).toEqual([7, 7, 7, 7]);
    model.dispose();
  });

  it('changing sequence lengths compile per shape and stay right', async () => {
    const { graph, weights } = smallModel();
    const model = await gl!.prepare(graph, weights);
    for (const seq of [3, 50, 1, 17, 50, 3]) expectClose(await model.run({ ids: ids(2, seq, seq) }), interpret(graph, { ids: ids(2, seq, seq) }, weights));
    model.dispose();
  });

  it('steps of the same shape share one kernel', async () => {
    const b = new GraphBuilder();
    let h = b.input('x', 'f32', [3, 8]);
    for (let layer = 0; layer < 4; layer++) h = b.add('tanh', [b.add('matmul', [h, b.param(`w${layer}`, 'f32', [8, 8])])]);
    const r = rng(5);
    const weights = new Map(Array.from({ length: 4 }, (_, l) => [`w${l}`, randomF32([8, 8], r)] as const));
    const graph = b.build({ y: h });
    const model = await gl!.prepare(graph, weights);
    const feeds = { x: randomF32([3, 8], r) };
    expectClose(await model.run(feeds), interpret(graph, feeds, weights));
    // matmul + tanh fuse into one fused_matmul per layer: four steps, one kernel
    expect(model.plan.steps.length).toBe(4);
    expect(model.kernelCount).toBe(1);
    model.dispose();
  });

  it('concurrent runs are serialized and each gets its own answer', async () => {
    const { graph, weights } = smallModel();
    const model = await gl!.prepare(graph, weights);
    const feeds = [1, 2, 3, 4, 5].map((s) => ({ ids: ids(1, s + 2, s) }));
    const results = await Promise.all(feeds.map((f) => model.run(f)));
    results.forEach((got, i) => expectClose(got, interpret(graph, feeds[i]!, weights)));
    model.dispose();
  });

  it('dispose frees every texture and kernel; running afterwards is a WebGlDisposedError', async () => {
    const runtime = await gl!.runtime();
    const before = runtime.liveTextures;
    const { graph, weights } = smallModel();
    const model = await gl!.prepare(graph, weights);
    await model.run({ ids: ids(2, 5, 1) });
    expect(runtime.liveTextures).toBeGreaterThan(before);
    model.dispose();
    expect(runtime.liveTextures).toBe(before);
    expect(model.kernelCount).toBe(0);
    await expect(model.run({ ids: ids(2, 5, 1) })).rejects.toThrow(WebGlDisposedError);
    model.dispose(); // twice is harmless
  });

  it('refuses i32 values that float32 textures cannot hold exactly, naming the tensor and position', async () => {
    const b = new GraphBuilder();
    const n = b.input('n', 'i32', [3]);
    const model = await gl!.prepare(b.build({ y: b.add('add', [n, b.constant(1, [], 'i32')]) }), new Map());
    const exact = await model.run({ n: { dtype: 'i32', shape: [3], data: Int32Array.of(-(2 ** 24), 5, 2 ** 24 - 1) } });
    expect(Array.from(exact['y']!.data)).toEqual([-(2 ** 24) + 1, 6, 2 ** 24]);
    await expect(model.run({ n: { dtype: 'i32', shape: [3], data: Int32Array.of(0, 2 ** 24 + 1, 0) } })).rejects.toThrow(/input 'n' holds 16777217 at position 1: the webgl backend keeps i32 tensors in float32 textures, exact only within \+-16777216/);
    model.dispose();
    const c = new GraphBuilder();
    const big = c.build({ y: c.add('add', [c.input('m', 'i32', [2]), c.constant([1, 2 ** 25], [2], 'i32')]) });
    await expect(gl!.prepare(big, new Map())).rejects.toThrow(/holds 33554432 at position 1/);
  });

  it('a tensor larger than MAX_TEXTURE_SIZE^2, or a kernel reading more textures than there are units, is a WebGlLimitError', async () => {
    const small = createWebGlBackend({ limits: { maxTextureSize: 64, maxTextureUnits: 2 } });
    const b = new GraphBuilder();
    const y = b.add('matmul', [b.input('x', 'f32', [2, 70 * 70]), b.param('big', 'f32', [70 * 70, 2])]);
    const weights = new Map([['big', randomF32([70 * 70, 2], rng(3))]]);
    await expect(small.prepare(b.build({ y }), weights)).rejects.toThrow(WebGlLimitError);
    await expect(small.prepare(b.build({ y }), weights)).rejects.toThrow(/weight 'big' holds 9800 elements, a 100 x 98 texture: more than the context's MAX_TEXTURE_SIZE of 64/);
    const c = new GraphBuilder();
    const [p, q, s] = ['p', 'q', 's'].map((name) => c.input(name, 'f32', [4]));
    const sum = c.build({ y: c.add('mul', [c.add('add', [p!, q!]), s!]) });
    const model = await small.prepare(sum, new Map());
    const feeds = Object.fromEntries(['p', 'q', 's'].map((name) => [name, randomF32([4], rng(4))]));
    await expect(model.run(feeds)).rejects.toThrow(/fused_elementwise .* reads 3 tensors, more than the 2 textures one kernel can read \(MAX_TEXTURE_IMAGE_UNITS\)/);
    model.dispose();
  });

  it('a kernel that gpu.js ran off GL (its silent CPU fallback) is a WebGlFallbackError', async () => {
    const runtime = await gl!.runtime();
    const cpu = new gpujs.GPU({ mode: 'cpu' });
    const fn = cpu.createKernel('function (a) { return a[this.thread.x] * 2; }', { output: [4] }) as never;
    const a = { texture: Float32Array.of(1, 2, 3, 4) } as never;
    expect(() => runtime.run({ fn, what: 'a test kernel', source: '', checked: false }, [a], 4)).toThrow(/a test kernel ran as a gpu\.js CPUKernel, not a HeadlessGLKernel: gpu\.js fell back from WebGL/);
  });

  it('a lost context is a WebGlContextLostError; the backend then acquires a new context', async () => {
    const backend = createWebGlBackend();
    const { graph, weights } = smallModel();
    const model = await backend.prepare(graph, weights);
    const feeds = { ids: ids(1, 4, 2) };
    const before = await model.run(feeds);
    (await backend.runtime()).loseContext();
    await expect(model.run(feeds)).rejects.toThrow(WebGlContextLostError);
    await expect(model.run(feeds)).rejects.toThrow(/the GL context was lost: cannot run; prepare the model again/);
    model.dispose();
    const again = await backend.prepare(graph, weights);
    expectClose(await again.run(feeds), before);
    again.dispose();
  });
});

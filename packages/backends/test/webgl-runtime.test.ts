import { GraphBuilder, interpret } from '@loom/graph';
import { compile } from '@loom/compiler';
import gpujs from 'gpu.js';
import { describe, expect, it, vi } from 'vitest';
import { KernelCache } from '../src/webgl/kernel-cache.ts';
import { createWebGlBackend, WebGlContextLostError, WebGlDisposedError, WebGlLimitError, WebGlModel, WebGlUnsupportedOpError, type WebGlBackend } from '../src/webgl/index.ts';
import { requireBackend } from './require-backend.ts';
import { deviceRuntimeSuite } from './suites/device-runtime-suite.ts';
import { expectClose, smallModel, smallModelIds } from './suites/small-model.ts';
import { randomF32, rng } from './webgpu-data.ts';

/**
 * The WebGL runtime: the shared device-runtime suite (suites/device-runtime-suite.ts), then what is
 * WebGL's own: kernels shared by steps of one shape, integers beyond float32's exact range, texture
 * limits, and gpu.js's silent fallback away from GL.
 */

const gl = (await requireBackend('webgl')).backend as WebGlBackend | undefined;

deviceRuntimeSuite({
  name: 'webgl',
  backend: gl,
  fresh: () => createWebGlBackend(),
  // textures in the pool of released ones are the context's, reused by the next run or model
  held: (runtime, model) => ({ textures: runtime.liveTextures - runtime.pooledTextures, kernels: model.kernelCount }),
  // idle kernels and released textures (kept by the context for the next model and run) are
  // dropped first, so that what is left is what models hold
  live: (runtime) => {
    runtime.dropCaches();
    return runtime.liveTextures;
  },
  lose: (runtime) => runtime.loseContext(),
  fromPlan: (runtime, plan, weights) => WebGlModel.create(runtime, plan, weights),
  errors: { disposed: WebGlDisposedError, lost: WebGlContextLostError, unsupported: WebGlUnsupportedOpError },
});

describe.skipIf(!gl)('webgl runtime, its own', { timeout: 120_000 }, () => {
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
    // matmul + tanh fuse into one fused_matmul per layer: four steps of one shape, each four passes
    // (pack A, pack B, the product in 2x2 blocks, unpack with tanh): four kernels in all
    expect(model.plan.steps.length).toBe(4);
    expect(model.kernelCount).toBe(4);
    model.dispose();
  });

  it("every kernel's fragment shader keeps only the gpu.js functions it calls, and computes what it did", async () => {
    const { graph, weights } = smallModel();
    const runtime = await gl!.runtime();
    runtime.dropCaches(); // kernels compiled by earlier tests would not pass through compile here
    const compile = vi.spyOn(runtime, 'compile');
    try {
      const feeds = { ids: smallModelIds(2, 5, 3) };
      const model = await gl!.prepare(graph, weights);
      expectClose(await model.run(feeds), interpret(graph, feeds, weights));
      const shaders = compile.mock.results.map((r) => (r.value as { fn: { kernel: { compiledFragmentShader: string | null } } }).fn.kernel.compiledFragmentShader);
      expect(shaders.length).toBeGreaterThan(3);
      for (const glsl of shaders) {
        expect(glsl).toContain('loom_main');
        // gpu.js's bitwise helpers and 8/16-bit decoders: in every shader it builds, called by none of Loom's
        expect(glsl).not.toContain('bitwiseXOR');
        expect(glsl).not.toContain('decode16');
        expect(glsl!.length).toBeLessThan(9000); // gpu.js's library alone is about 15 KB
      }
      model.dispose();
    } finally {
      compile.mockRestore();
    }
  });

  it("a profile gives each pass its own drawing time (llvmpipe draws at the next read of what was drawn)", async () => {
    // a 192^3 product (7M multiply-adds in one pass) after a tanh of its A (36864 elements)
    const n = 192;
    const b = new GraphBuilder();
    const graph = b.build({ y: b.add('matmul', [b.add('tanh', [b.input('x', 'f32', [n, n])]), b.param('w', 'f32', [n, n])]) });
    const r = rng(31);
    const model = (await gl!.prepare(graph, new Map([['w', randomF32([n, n], r)]]))) as WebGlModel;
    const feeds = { x: randomF32([n, n], r) };
    await model.run(feeds);
    const passes = await model.profile(feeds);
    model.dispose();
    const product = passes.find((p) => p.what.endsWith('2x2 blocks'))!;
    const total = passes.reduce((sum, p) => sum + p.ms, 0);
    // before each pass was waited for, the product's draw was timed at the run's read-back, outside the profile
    expect(product.ms / total, passes.map((p) => `${p.what.split(': ').pop()} ${p.ms.toFixed(2)} ms`).join('; ')).toBeGreaterThan(0.5);
  });

  it('a second model of the same graph compiles nothing: kernels belong to the context, kept idle between models', async () => {
    const { graph, weights } = smallModel();
    const runtime = await gl!.runtime();
    runtime.dropCaches(); // what earlier tests left would make the first model compile nothing too
    const compile = vi.spyOn(runtime, 'compile');
    try {
      const feeds = { ids: smallModelIds(2, 5, 3) };
      const first = await gl!.prepare(graph, weights);
      await first.run(feeds);
      const compiled = compile.mock.calls.length;
      expect(compiled).toBeGreaterThan(0);
      first.dispose();
      expect(runtime.kernels.idle).toBeGreaterThanOrEqual(compiled);
      const second = await gl!.prepare(graph, weights);
      expectClose(await second.run(feeds), interpret(graph, feeds, weights));
      expect(compile.mock.calls.length).toBe(compiled);
      second.dispose();
    } finally {
      compile.mockRestore();
    }
  });

  it('a model prepared again with the same weight arrays uploads and packs nothing; a weight changed in place is uploaded again', async () => {
    const b = new GraphBuilder();
    const graph = b.build({ y: b.add('add', [b.add('matmul', [b.input('x', 'f32', [3, 8]), b.param('w', 'f32', [8, 5])]), b.param('bias', 'f32', [5])]) });
    const r = rng(11);
    const weights = new Map([['w', randomF32([8, 5], r)], ['bias', randomF32([5], r)]]);
    const feeds = { x: randomF32([3, 8], r) };
    const runtime = await gl!.runtime();
    const upload = vi.spyOn(runtime, 'upload');
    try {
      const prepared = async () => {
        upload.mockClear();
        const model = (await gl!.prepare(graph, weights)) as WebGlModel;
        const uploads = upload.mock.calls.map(([, what]) => what);
        const passes = (await model.profile(feeds)).map((p) => p.what.split(': ').pop());
        const packsB = passes.some((p) => p?.startsWith('fused_matmul B, packed'));
        expectClose(await model.run(feeds), interpret(graph, feeds, weights));
        model.dispose();
        return { uploads, packsB };
      };
      const first = await prepared();
      expect(first.uploads).toEqual(["weight 'w'", "weight 'bias'"]);
      expect(first.packsB).toBe(true);
      const again = await prepared();
      expect(again.uploads).toEqual([]);
      expect(again.packsB).toBe(false);
      const w = weights.get('w')!.data as Float32Array;
      w[3] = w[3]! + 1; // in place: the same array, other contents
      const changed = await prepared();
      expect(changed.uploads).toEqual(["weight 'w'"]);
      expect(changed.packsB).toBe(true);
    } finally {
      upload.mockRestore();
    }
  });

  it('an output that is a fed input as it is (an uploaded texture, one channel) is read back through a copy', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [5, 7]);
    const graph = b.build({ same: x, y: b.add('tanh', [x]) });
    const feeds = { x: randomF32([5, 7], rng(12)) };
    const model = await gl!.prepare(graph, new Map());
    const got = await model.run(feeds);
    expect(Array.from(got['same']!.data)).toEqual(Array.from(feeds.x.data));
    expectClose(got, interpret(graph, feeds, new Map()));
    model.dispose();
  });

  it("a disposed model's kernels stay compiled but hold no texture (the last ones they drew go to the pool)", async () => {
    const { graph, weights } = smallModel();
    const runtime = await gl!.runtime();
    runtime.dropCaches();
    const held = () => runtime.liveTextures - runtime.pooledTextures;
    const before = held();
    const model = await gl!.prepare(graph, weights);
    await model.run({ ids: smallModelIds(3, 7, 4) });
    model.dispose();
    expect(runtime.kernels.idle).toBeGreaterThan(0);
    runtime.weights.trim(); // the idle weights are kept on purpose; kernels should keep nothing
    expect(held()).toBe(before);
  });

  it('the kernel cache keeps the most recently used idle kernels and destroys the oldest past its limit', () => {
    const destroyed: string[] = [];
    const idled: string[] = [];
    const cache = new KernelCache((pass) => ({ what: pass.what }) as never, (kernel) => destroyed.push(kernel.what), (kernel) => idled.push(kernel.what), 2);
    const pass = (what: string) => ({ inputs: [], size: 1, helpers: [], body: ['return 0.0;'], what });
    for (const k of ['a', 'b', 'c']) cache.acquire(k, pass(k), 'test', []);
    cache.acquire('a', pass('a'), 'test', []); // a second user of a: no compile, a is now the most recent
    for (const k of ['b', 'c', 'a']) cache.release(k);
    expect(cache.idle).toBe(2); // b, c idle; a still has a user
    expect(idled).toEqual(['b', 'c']); // each let go of its output texture as it went idle
    expect(destroyed).toEqual([]);
    cache.release('a');
    expect(destroyed).toEqual(['b']); // three idle past a limit of two: the oldest goes
    cache.acquire('c', pass('c'), 'test', []);
    cache.trim();
    expect(destroyed).toEqual(['b', 'a']);
    expect(cache.idle).toBe(0);
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
    // a weight is checked as given (float32 would round 2^24 + 1 to 2^24), also when its texture is cached
    const d = new GraphBuilder();
    const table = d.build({ y: d.add('add', [d.input('m', 'i32', [2]), d.param('t', 'i32', [2])]) });
    const values = Int32Array.of(1, 2 ** 24 + 1);
    await expect(gl!.prepare(table, new Map([['t', { dtype: 'i32', shape: [2], data: values }]]))).rejects.toThrow(/weight 't' holds 16777217 at position 1/);
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
    expect(() => runtime.launch({ fn, what: 'a test kernel', source: '', checked: false }, [a], 4)).toThrow(/a test kernel ran as a gpu\.js CPUKernel, not a HeadlessGLKernel: gpu\.js fell back from WebGL/);
  });

});

import { GraphBuilder } from '@loom/graph';
import { compile } from '@loom/compiler';
import { describe, expect, it } from 'vitest';
import { createWebGpuBackend, DeviceLostError, GpuLimitError, GpuOutOfMemoryError, GpuRuntime, kernelFor, ModelDisposedError, UnsupportedOpError, WebGpuModel } from '../src/webgpu/index.ts';
import { deviceRuntimeSuite } from './suites/device-runtime-suite.ts';
import { smallModel, smallModelIds as ids } from './suites/small-model.ts';
import { gpu, gpuWithLimits, randomF32, rng } from './webgpu-helpers.ts';

/**
 * The WebGPU runtime: the shared device-runtime suite (suites/device-runtime-suite.ts), then what is
 * WebGPU's own: pipelines shared across models, out-of-memory scopes, buffer size limits.
 */
deviceRuntimeSuite({
  name: 'webgpu',
  backend: gpu,
  fresh: () => createWebGpuBackend(),
  held: (runtime, model) => ({ model: model.memory(), buffers: runtime.liveBuffers, bytes: runtime.liveBytes, pipelines: runtime.pipelineCount }),
  live: (runtime) => runtime.liveBuffers,
  lose: (runtime) => runtime.device.destroy(),
  fromPlan: (runtime, plan, weights) => WebGpuModel.create(runtime, plan, weights, { kernels: kernelFor }),
  errors: { disposed: ModelDisposedError, lost: DeviceLostError, unsupported: UnsupportedOpError },
});

describe.skipIf(!gpu)('webgpu runtime, its own', { timeout: 120_000 }, () => {
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
    const error = await WebGpuModel.create(runtime, compile(graph), new Map([['big', randomF32([1000], rng(1))]]), { kernels: kernelFor }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GpuOutOfMemoryError);
    expect((error as Error).message).toMatch(/out of GPU memory: allocating 3.9 KiB for weight 'big' \(3.9 KiB\): Out of memory \(simulated\)/);
    expect(runtime.liveBuffers).toBe(0);
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

});

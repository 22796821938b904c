/**
 * WebGPU benchmark: matmul on the WebGPU backend vs the CPU backend, a table per size.
 * Run: `npx tsx examples/bench-webgpu.ts` (`--quick` for fewer sizes).
 *
 * Here the WebGPU adapter is SwiftShader, a CPU emulation of a GPU (Vulkan on the CPU's cores): its
 * numbers show that the kernels run and what the backend's overhead is, not what a GPU does. For a
 * real GPU, see examples/webgpu-real-gpu/.
 */
import { cpuBackend } from '@loom/backends';
import { GraphBuilder, type NDArray } from '@loom/graph';
import { createWebGpuBackend } from '../packages/backends/src/webgpu/index.ts';
import { timeRuns } from './timing.ts';

const quick = process.argv.includes('--quick');
const sizes = quick ? [64, 128, 256] : [64, 128, 256, 512];

function random(shape: number[], seed: number): NDArray {
  let s = seed;
  const data = Float32Array.from({ length: shape[0]! * shape[1]! }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5);
  return { dtype: 'f32', shape, data };
}

const gpu = createWebGpuBackend();
const runtime = await gpu.runtime();
console.log(`\n## matmul n x n x n float32: WebGPU (${runtime.description}) vs the CPU backend\n`);
console.log('SwiftShader is a CPU emulation of a GPU: read the WebGPU column as backend overhead, not GPU speed.');
console.log('Times per run include uploading A and B and reading C back; "kernel" is the matmul dispatch alone.\n');
console.log('| n | WebGPU run (ms) | WebGPU kernel (ms) | WebGPU GFLOP/s (kernel) | CPU backend run (ms) | CPU GFLOP/s |');
console.log('|---|---|---|---|---|---|');
for (const n of sizes) {
  const b = new GraphBuilder();
  const graph = b.build({ c: b.add('matmul', [b.input('a', 'f32', [n, n]), b.input('b', 'f32', [n, n])]) });
  const feeds = { a: random([n, n], 1), b: random([n, n], 2) };
  const flops = 2 * n ** 3;
  const g = await gpu.prepare(graph, new Map());
  const gpuMs = await timeRuns(() => g.run(feeds), { minMs: 1000 });
  const kernelMs = Math.min(...(await Promise.all([0, 1].map(async () => (await g.profile(feeds)).find((k) => k.op === 'matmul')!.ms))));
  g.dispose();
  const c = await cpuBackend.prepare(graph, new Map());
  const cpuMs = await timeRuns(() => c.run(feeds), { minMs: 1000 });
  c.dispose();
  const gflops = (ms: number) => (flops / (ms / 1000) / 1e9).toFixed(2);
  console.log(`| ${n} | ${gpuMs.toFixed(2)} | ${kernelMs.toFixed(2)} | ${gflops(kernelMs)} | ${cpuMs.toFixed(2)} | ${gflops(cpuMs)} |`);
}

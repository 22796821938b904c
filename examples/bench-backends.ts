/**
 * The three backends side by side: matmul and the tiny GPT-2 (forward and KV-cache decoding) on
 * cpu, webgl and webgpu, in one run. `npx tsx examples/bench-backends.ts` (`--quick`: smaller and
 * fewer). Prints markdown tables, asserts nothing.
 *
 * On a machine without a GPU, webgl runs on Mesa's llvmpipe (software GL under Xvfb, through
 * headless-gl's ANGLE) and webgpu on SwiftShader (Vulkan on the CPU): read those columns as what
 * the backends cost where no GPU exists, not as GPU speed. examples/webgpu-real-gpu/ is for a GPU.
 */
import { getBackend, type Backend } from '@loom/backends';
import { GraphBuilder, type NDArray } from '@loom/graph';
import { generate } from '../packages/models/src/decoding/generate.ts';
import { gpt2ConfigFromHf } from '../packages/models/src/gpt2/config.ts';
import { Gpt2Runner } from '../packages/models/src/runners/causal-lm-runner.ts';
import { gpt2Weights } from '../packages/models/src/weights/gpt2-weights.ts';
import { fixtureJson, fixtureTensors } from '../packages/models/test/helpers.ts';
import { firstLine, tfjsWebglMatmulMs } from './peers/index.ts';
import { medianRuns } from './timing.ts';

const quick = process.argv.includes('--quick');
const sizes = quick ? [256] : [256, 512, 1024];
const NAMES = ['cpu', 'webgl', 'webgpu'] as const;

function random(shape: number[], seed: number): NDArray {
  let s = seed;
  const data = Float32Array.from({ length: shape[0]! * shape[1]! }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5);
  return { dtype: 'f32', shape, data };
}

const backends: Record<string, Backend> = {};
for (const name of NAMES) backends[name] = await getBackend(name);
const describe = async (name: string) => ((await (backends[name] as unknown as { runtime?: () => Promise<{ description: string }> }).runtime?.())?.description ?? 'WebAssembly SIMD');
console.log(`\nbackends: ${(await Promise.all(NAMES.map(async (n) => `${n}: ${await describe(n)}`))).join('; ')}\n`);

console.log('## matmul n x n x n float32 (ms per run, median; GFLOP/s; B is a weight, A is fed and C read back each run)\n');
console.log('Peer: TensorFlow.js 4.22 webgl backend on a headless-gl context of the same kind: B on the GPU, A uploaded each run as Loom\'s is ("A fed"), or already on the GPU.\n');
console.log(`| n | ${NAMES.map((n) => `${n} ms | ${n} GFLOP/s`).join(' | ')} | tfjs-webgl ms, A fed | tfjs-webgl ms, A on the GPU | webgl / cpu | webgl / webgpu | webgl / tfjs-webgl (A fed) |`);
console.log(`|---|${NAMES.map(() => '---|---|').join('')}---|---|---|---|---|`);
for (const n of sizes) {
  const b = new GraphBuilder();
  const graph = b.build({ c: b.add('matmul', [b.input('a', 'f32', [n, n]), b.param('w', 'f32', [n, n])]) });
  const feeds = { a: random([n, n], 1) };
  const weights = new Map([['w', random([n, n], 2)]]);
  const ms: Record<string, number> = {};
  for (const name of NAMES) {
    const model = await backends[name]!.prepare(graph, weights);
    ms[name] = await medianRuns(() => model.run(feeds), { reps: n >= 1024 ? 3 : 5, warmups: 1 });
    model.dispose();
  }
  const peer = await tfjsWebglMatmulMs(n, n >= 1024 ? 3 : 5, true).catch((e: unknown) => firstLine(e));
  const onGpu = await tfjsWebglMatmulMs(n, n >= 1024 ? 3 : 5).catch((e: unknown) => firstLine(e));
  const gflops = (t: number) => ((2 * n ** 3) / (t / 1000) / 1e9).toFixed(2);
  const peerCells = [peer, onGpu].map((t) => (typeof t === 'number' ? `${t.toFixed(1)} | ` : `${t} | `)).join('');
  const peerRatio = typeof peer === 'number' ? `${(ms['webgl']! / peer).toFixed(1)}x` : '-';
  console.log(`| ${n} | ${NAMES.map((k) => `${ms[k]!.toFixed(1)} | ${gflops(ms[k]!)}`).join(' | ')} | ${peerCells}${(ms['webgl']! / ms['cpu']!).toFixed(1)}x | ${(ms['webgl']! / ms['webgpu']!).toFixed(2)}x | ${peerRatio} |`);
}

const cfg = gpt2ConfigFromHf(fixtureJson('gpt2-tiny.config.json'));
const weights = gpt2Weights(cfg, fixtureTensors('gpt2-tiny.safetensors'));
const prompt = fixtureJson<{ prompt_ids: number[] }>('gpt2-tiny.json').prompt_ids;
const newTokens = quick ? 8 : 32;
console.log(`\n## gpt2-tiny (${cfg.nLayer} layers, d ${cfg.nEmbd}, vocab ${cfg.vocabSize}): forward of the ${prompt.length}-token prompt (all logits) and KV-cache decoding of ${newTokens} tokens\n`);
console.log(`| backend | forward ms (median) | generate tokens/s (prefill + ${newTokens} cached steps, median of 3) | first generate, s (with compiling) |`);
console.log('|---|---|---|---|');
for (const name of NAMES) {
  const runner = new Gpt2Runner(cfg, weights, backends[name]!);
  const start = performance.now();
  await generate(runner, [prompt], { maxNewTokens: newTokens, kvCache: true, stopAt: null });
  const first = (performance.now() - start) / 1000;
  const forward = await medianRuns(() => runner.logits([prompt]), { reps: 5, warmups: 1 });
  const decodeMs = await medianRuns(() => generate(runner, [prompt], { maxNewTokens: newTokens, kvCache: true, stopAt: null }), { reps: 3, warmups: 0 });
  console.log(`| ${name} | ${forward.toFixed(1)} | ${(newTokens / (decodeMs / 1000)).toFixed(1)} | ${first.toFixed(1)} |`);
}

/**
 * Loom and its peers on one page in headless Chromium (cross-origin isolated, so every wasm engine
 * runs its threads), one run, medians: matmul n^3 (Loom cpu / webgl / webgpu; TensorFlow.js wasm
 * and webgl; onnxruntime-web wasm; jax-js wasm) and GPT-2 prefill and KV-cache decoding (Loom cpu;
 * onnxruntime-web wasm on Loom's own ONNX export of the same random weights for the prefill, on a
 * hand-built ONNX graph with a KV cache for decoding, since Loom does not export cache graphs).
 * Prints markdown tables; asserts nothing.
 *
 *   npx tsx examples/bench-browser/bench-browser.ts [--quick] [--threads N]
 *   npx tsx examples/bench-browser/bench-browser.ts --webgl    (only Loom webgl against TensorFlow.js webgl: matmul 256, 512 and 1024)
 *
 * Here Chromium draws WebGL with ANGLE on SwiftShader and WebGPU on SwiftShader (both on the CPU):
 * those rows are what the backends cost without a GPU.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { browserBundleOptions, randomWeights } from '@loom/backends';
import { exportOnnx } from '@loom/compiler';
import { writeSafetensors } from '@loom/graph';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { GPT2_PRESETS } from '../../packages/models/src/gpt2/config.ts';
import { buildGpt2 } from '../../packages/models/src/gpt2/model.ts';
import { gpt2OnnxModel } from '../peers/onnx-gpt2.ts';
import { matmulOnnxModel } from '../peers/onnx-matmul.ts';
import { ISOLATION_HEADERS } from '../browser-generate/serve.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const threads = args.includes('--threads') ? Number(args[args.indexOf('--threads') + 1]) : 2;
const n = quick ? 256 : 1024;
const seq = quick ? 32 : 128;
const steps = quick ? 8 : 32;
const reps = quick ? 3 : 5;
const require = createRequire(import.meta.url);
/** A package's dist folder, found from its main entry (its exports list neither package.json nor the .wasm files). */
const distOf = (name: string) => {
  const main = require.resolve(name);
  return main.slice(0, main.lastIndexOf('/dist/') + '/dist'.length);
};

const cfg = quick ? { ...GPT2_PRESETS.gpt2, nLayer: 2 } : GPT2_PRESETS.gpt2;
const graph = buildGpt2(cfg);
const weights = randomWeights(graph, 1);
const files: Record<string, () => Uint8Array | string> = {
  '/': () => '<!doctype html><meta charset="utf-8"><title>Loom browser benchmark</title><p id="status">loading</p><script type="module" src="/bench.js"></script>',
  [`/onnx/matmul-${n}.onnx`]: () => matmulOnnxModel(n),
  '/onnx/gpt2-prefill.onnx': () => exportOnnx(graph, weights).model,
  '/onnx/gpt2-decode.onnx': () => gpt2OnnxModel(cfg, weights, 'decode'),
  '/gpt2/config.json': () => JSON.stringify(cfg),
  '/gpt2/weights.safetensors': () => writeSafetensors(weights),
};
const folders: Record<string, string> = {
  '/ort/': distOf('onnxruntime-web'),
  '/tfjs-wasm/': distOf('@tensorflow/tfjs-backend-wasm'),
};
const bundle = (await build({ entryPoints: [fileURLToPath(new URL('./page.ts', import.meta.url))], ...browserBundleOptions, write: false, logLevel: 'error' })).outputFiles[0]!.text;
const cache = new Map<string, Uint8Array | string>();
const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const type = path.endsWith('.js') || path.endsWith('.mjs') ? 'text/javascript' : path.endsWith('.wasm') ? 'application/wasm' : path === '/' ? 'text/html' : 'application/octet-stream';
  if (path === '/bench.js') return void res.writeHead(200, { 'content-type': type, ...ISOLATION_HEADERS }).end(bundle);
  const made = files[path];
  if (made) {
    if (!cache.has(path)) cache.set(path, made());
    return void res.writeHead(200, { 'content-type': type, ...ISOLATION_HEADERS }).end(cache.get(path));
  }
  const folder = Object.keys(folders).find((f) => path.startsWith(f));
  if (!folder || path.includes('..')) return void res.writeHead(404).end();
  readFile(join(folders[folder]!, path.slice(folder.length))).then((body) => res.writeHead(200, { 'content-type': type, ...ISOLATION_HEADERS }).end(body), () => res.writeHead(404).end());
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const browser = await chromium.launch({ executablePath: process.env['LOOM_CHROMIUM'] ?? '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu', '--ignore-gpu-blocklist'] });
const page = await browser.newPage();
page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready', undefined, { timeout: 120_000 });
const env = await page.evaluate(() => window.bench.environment());

/** A row's value, or the first line of why it failed. */
async function measure<T>(work: () => Promise<T>): Promise<T | string> {
  try {
    return await work();
  } catch (e) {
    return String((e as Error).message ?? e).split('\n')[0]!.slice(0, 120);
  }
}
const ms = (v: number | string) => (typeof v === 'number' ? v.toFixed(1) : `n/a (${v})`);
const versus = (peer: number | string, loom: number | string) => (typeof peer === 'number' && typeof loom === 'number' ? `${(peer / loom).toFixed(2)}x` : '-');

console.log(`# Loom in the browser (${new Date().toISOString().slice(0, 10)}; ${env.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? 'Chromium'} headless, ${cpus()[0]?.model ?? 'CPU'}, ${env.cores} cores, load ${loadavg()[0]!.toFixed(2)}; cross-origin isolated: ${env.isolated}; ${threads} threads for every engine that has them; ${quick ? 'quick' : 'full'})\n`);

if (args.includes('--webgl')) {
  console.log('## WebGL: matmul n^3 float32, ms per run (median of 5; B a weight or already on the device, C read back)\n');
  console.log('| n | Loom webgl | TensorFlow.js 4.22 webgl | Loom / TensorFlow.js |');
  console.log('|---|---|---|---|');
  for (const size of [256, 512, 1024]) {
    const loom = await measure(() => page.evaluate(([s, r]) => window.bench.loomMatmul(s, 'webgl', 1, r), [size, 5] as const));
    const tf = await measure(() => page.evaluate(([s, r]) => window.bench.tfjsMatmul(s, 'webgl', 1, r), [size, 5] as const));
    const peer = typeof tf === 'object' ? tf.ms : tf;
    console.log(`| ${size} | ${ms(loom)} | ${ms(peer)} | ${typeof loom === 'number' && typeof peer === 'number' ? `${(loom / peer).toFixed(2)}x the time` : '-'} |`);
  }
  await browser.close();
  server.close();
  process.exit(0);
}

console.log(`## matmul ${n}^3 float32, ms per run (median of ${reps}; B a weight or already on the device, C read back)\n`);
console.log('| engine | ms | GFLOP/s | engine / Loom cpu |');
console.log('|---|---|---|---|');
const flops = (t: number | string) => (typeof t === 'number' ? ((2 * n ** 3) / t / 1e6).toFixed(1) : '-');
const loomCpu = await measure(() => page.evaluate(([size, t, r]) => window.bench.loomMatmul(size, 'cpu', t, r), [n, threads, reps] as const));
const rows: [string, number | string][] = [[`Loom cpu, ${threads} threads`, loomCpu]];
rows.push(['onnxruntime-web 1.30, wasm', await measure(() => page.evaluate(([size, t, r]) => window.bench.ortMatmul(size, t, r), [n, threads, reps] as const))]);
const tfWasm = await measure(() => page.evaluate(([size, t, r]) => window.bench.tfjsMatmul(size, 'wasm', t, r), [n, threads, reps] as const));
rows.push([`TensorFlow.js 4.22, wasm${typeof tfWasm === 'object' ? ` (${tfWasm.note})` : ''}`, typeof tfWasm === 'object' ? tfWasm.ms : tfWasm]);
rows.push([`jax-js 0.1.25, wasm (${env.cores} Workers)`, await measure(() => page.evaluate(([size, r]) => window.bench.jaxMatmul(size, r), [n, reps] as const))]);
const loomGl = await measure(() => page.evaluate(([size, r]) => window.bench.loomMatmul(size, 'webgl', 1, r), [n, reps] as const));
rows.push(['Loom webgl', loomGl]);
const tfGl = await measure(() => page.evaluate(([size, t, r]) => window.bench.tfjsMatmul(size, 'webgl', t, r), [n, threads, reps] as const));
rows.push(['TensorFlow.js 4.22, webgl', typeof tfGl === 'object' ? tfGl.ms : tfGl]);
if (env.gpu) rows.push(['Loom webgpu', await measure(() => page.evaluate(([size, r]) => window.bench.loomMatmul(size, 'webgpu', 1, r), [n, reps] as const))]);
for (const [name, t] of rows) console.log(`| ${name} | ${ms(t)} | ${flops(t)} | ${name.startsWith('Loom cpu') ? '' : versus(t, loomCpu)} |`);
console.log(`\nLoom webgl / TensorFlow.js webgl: ${typeof loomGl === 'number' && typeof tfGl === 'object' ? `${(loomGl / tfGl.ms).toFixed(2)}x the time` : '-'}\n`);

console.log(`## GPT-2 ${quick ? '(2 layers)' : 'small'}, random weights: prefill at seq ${seq} (ms, median of ${reps}) and KV-cache decoding after a 16-token prompt (tokens/s, median of 3 rounds of ${steps})\n`);
const loomPrefill = await measure(() => page.evaluate(([s, t, r]) => window.bench.loomGpt2Prefill(s, t, r), [seq, threads, reps] as const));
const ortPrefill = await measure(() => page.evaluate(([s, t, r]) => window.bench.ortGpt2Prefill(s, t, r), [seq, threads, reps] as const));
const loomDecode = await measure(() => page.evaluate(([s, t]) => window.bench.loomGpt2Decode(s, t, 3), [steps, threads] as const));
const ortDecode = await measure(() => page.evaluate(([s, t]) => window.bench.ortGpt2Decode(s, t, 3), [steps, threads] as const));
console.log('| engine | prefill ms | decode tokens/s |');
console.log('|---|---|---|');
console.log(`| Loom cpu, ${threads} threads (on the page's main thread) | ${ms(loomPrefill)} | ${ms(loomDecode)} |`);
console.log(`| onnxruntime-web 1.30, wasm, ${threads} threads | ${ms(ortPrefill)} | ${ms(ortDecode)} |`);
console.log(`| onnxruntime-web / Loom | ${versus(ortPrefill, loomPrefill)} the time | ${versus(loomDecode, ortDecode)} the tokens/s (Loom / onnxruntime-web) |`);

await browser.close();
server.close();
process.exit(0);

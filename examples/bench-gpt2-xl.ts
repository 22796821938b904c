/**
 * GPT-2 XL (1.56B parameters, random weights) on Loom's cpu backend, 2 threads, with the weight store
 * of the argument (default q4): q4 and q8 codes fit WebAssembly's 4 GiB heap; float32's 6.2 GB do
 * not, and the weights past the kept-panel limit (2.5 GiB) stay in JavaScript, copied into the heap
 * and packed per product; bfloat16's 3.1 GB of decoding panels are kept up to the limit and streamed
 * past it (packed once outside the heap, copied per product).
 * Prints the time to draw the weights and to prepare (quantize, pack), the heap's size, greedy decoding
 * with the KV cache (16-token prompt, then 12 tokens) and the process's peak memory (the caller's
 * float32 weights included). Run: `npx tsx examples/bench-gpt2-xl.ts [q4|q8|bf16|f32]` (2-4 minutes, 9-13 GiB).
 */
import { cpuBackend, withPrepareOptions } from '@loom/backends';
import { argmax, buildGpt2, gpt2CachedPlans, GPT2_PRESETS } from '@loom/models';
import { KvCacheDecoder } from '../packages/models/src/decoding/kv-cache-decoder.ts';
import { WasmRuntime } from '../packages/backends/src/cpu/wasm-runtime/runtime.ts';
import { graphParams, mulberry32, nodeName, type NDArray } from '@loom/graph';
const cfg = GPT2_PRESETS['gpt2-xl'];
const graph = buildGpt2(cfg);
let t = performance.now();
const r = mulberry32(1);
const weights = new Map<string, NDArray>();
for (const p of graphParams(graph)) {
  const shape = p.type.shape as number[];
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  // uniform with GPT-2's initial standard deviation (0.02); norms' gains 1
  for (let i = 0; i < size; i++) data[i] = (r() - 0.5) * 0.068;
  if (shape.length === 1 && nodeName(p)!.endsWith('.weight')) data.fill(1);
  weights.set(nodeName(p)!, { dtype: 'f32', shape, data });
}
console.log(`weights ${((performance.now() - t) / 1000).toFixed(1)} s, rss ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB`);
const store = (['q4', 'q8', 'bf16', 'f32'] as const).find((s) => s === process.argv[2]) ?? 'q4';
console.log(`store ${store}, Node ${process.version}`);
const backend = withPrepareOptions(cpuBackend, { cpu: { threads: 2 }, weightStore: store });
const decoder = new KvCacheDecoder(gpt2CachedPlans(cfg), weights, backend);
t = performance.now();
await decoder.prepare();
console.log(`prepare ${((performance.now() - t) / 1000).toFixed(1)} s, heap ${(WasmRuntime.get().heap.memory.buffer.byteLength / 2 ** 30).toFixed(2)} GiB, rss ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB`);
const prompt = Array.from({ length: 16 }, (_, i) => (i * 7919) % cfg.vocabSize);
let [logits] = await decoder.prefill([prompt]);
const steps = 12;
t = performance.now();
for (let s = 0; s < steps; s++) [logits] = await decoder.step([argmax(logits!)]);
const ms = (performance.now() - t) / steps;
console.log(`decode ${(1000 / ms).toFixed(2)} tokens/s (${ms.toFixed(0)} ms a token), finite logits: ${Array.from(logits as ArrayLike<number>).slice(0, 1000).every(Number.isFinite)}, peak rss ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`);
process.exit(0);

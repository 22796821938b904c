/**
 * GPT-2 XL (1.56B parameters, random weights) with the q4 (or, `q8` as the argument, q8) store on
 * Loom's cpu backend, 2 threads: the codes fit WebAssembly's 4 GiB heap where float32's 6.2 GB do not.
 * Prints the time to draw the weights and to prepare (quantize, pack), the heap's size, greedy decoding
 * with the KV cache (16-token prompt, then 12 tokens) and the process's peak memory (the caller's
 * float32 weights included). Run: `npx tsx examples/bench-gpt2-xl.ts [q4|q8]` (about 2 minutes, 9 GiB).
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
const backend = withPrepareOptions(cpuBackend, { cpu: { threads: 2 }, weightStore: process.argv[2] === 'q8' ? 'q8' : 'q4' });
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

/**
 * The cpu backend's kernel settings on a real checkpoint (gpt2-tiny, vocabulary 50257): any thread
 * count computes the same bits (each output column is computed by one thread, with the same code),
 * relaxed SIMD (FMA) stays within the float32 tolerance of plain SIMD, and the bfloat16 weight store
 * for decoding stays within its stated error of float32.
 */
import { maxAbsDiff } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { withPrepareOptions, cpuBackend, type CpuOptions } from '../src/index.ts';
import { panelBytes, setKeptPanelsMax, streamedPanelBytes } from '../src/cpu/wasm-runtime/weight-panels.ts';
import { arenaBytesInUse } from '../src/cpu/kernels/resident-weights.ts';
// the model zoo lives in @loom/models, which depends on this package: import its sources directly
import { generate } from '../../models/src/decoding/generate.ts';
import { gpt2ConfigFromHf } from '../../models/src/gpt2/config.ts';
import { KvCacheDecoder } from '../../models/src/decoding/kv-cache-decoder.ts';
import { gpt2CachedPlans, Gpt2Runner } from '../../models/src/runners/causal-lm-runner.ts';
import { gpt2Weights } from '../../models/src/weights/gpt2-weights.ts';
import { fixtureJson, fixtureTensors, tensor } from '../../models/test/helpers.ts';

const cfg = gpt2ConfigFromHf(fixtureJson('gpt2-tiny.config.json'));
const expected = fixtureJson<{ prompt_ids: number[]; greedy_20: number[] }>('gpt2-tiny.json');
const weights = gpt2Weights(cfg, fixtureTensors('gpt2-tiny.safetensors'));
const golden = tensor(fixtureTensors('gpt2-tiny-golden.safetensors'), 'logits_f64');
// every product on the WebAssembly kernels and split across the threads, however small
const ALL_ON_KERNELS = { smallProduct: 0, parallelFrom: 0, pauseWhenContended: false };

async function logits(options: CpuOptions, from = weights): Promise<Float32Array> {
  const runner = new Gpt2Runner(cfg, from, withPrepareOptions(cpuBackend, { cpu: { ...options, ...ALL_ON_KERNELS } }));
  const out = await runner.logits([expected.prompt_ids]);
  await runner.dispose();
  return Float32Array.from(out.data);
}

/** The KV-cache decoder's prefill logits (its last position). */
async function prefillLogits(options: CpuOptions): Promise<Float32Array> {
  const decoder = new KvCacheDecoder(gpt2CachedPlans(cfg), weights, withPrepareOptions(cpuBackend, { cpu: { ...options, ...ALL_ON_KERNELS } }));
  const [row] = await decoder.prefill([expected.prompt_ids]);
  await decoder.dispose();
  return row!;
}

/** Logits of `steps` KV-cache decode steps after the prompt (one-row products: the matrix-vector kernels). */
async function decodeLogits(options: CpuOptions, steps: number, from = weights, whilePrepared?: () => void, prompt = expected.prompt_ids, tokens = expected.greedy_20): Promise<Float32Array[]> {
  const decoder = new KvCacheDecoder(gpt2CachedPlans(cfg), from, withPrepareOptions(cpuBackend, { cpu: { ...options, ...ALL_ON_KERNELS } }));
  await decoder.prefill([prompt]);
  whilePrepared?.();
  const rows: Float32Array[] = [];
  for (let i = 0; i < steps; i++) rows.push(...(await decoder.step([tokens[i]!])));
  await decoder.dispose();
  return rows;
}

describe('cpu kernel settings on gpt2-tiny', () => {
  it('1, 2 and 3 threads give bit-identical logits, in relaxed and in plain SIMD', async () => {
    for (const simd of ['relaxed', 'plain'] as const) {
      const one = await logits({ simd, threads: 1 });
      for (const threads of [2, 3]) expect(maxAbsDiff(await logits({ simd, threads }), one)).toBe(0);
      expect(maxAbsDiff(one, golden.data)).toBeLessThan(2e-5);
    }
  });

  it('relaxed SIMD (fused multiply-add) is within 1e-5 of plain SIMD; both decode greedy_20', async () => {
    expect(maxAbsDiff(await logits({ simd: 'relaxed' }), await logits({ simd: 'plain' }))).toBeLessThan(1e-5);
    for (const simd of ['relaxed', 'plain'] as const) {
      const runner = new Gpt2Runner(cfg, weights, withPrepareOptions(cpuBackend, { cpu: { simd, ...ALL_ON_KERNELS } }));
      expect((await generate(runner, [expected.prompt_ids], { maxNewTokens: 20, kvCache: true }))[0]).toEqual(expected.greedy_20);
      await runner.dispose();
    }
  });

  it('the bf16 weight store: decode logits within 5e-3 of float32 (stated in BENCHMARKS.md), greedy ids unchanged', async () => {
    const f32 = await decodeLogits({ weightStore: 'f32' }, 8);
    const bf16 = await decodeLogits({ weightStore: 'bf16' }, 8);
    let worst = 0;
    for (let i = 0; i < f32.length; i++) worst = Math.max(worst, maxAbsDiff(bf16[i]!, f32[i]!));
    expect(worst).toBeLessThan(5e-3);
    expect(worst).toBeGreaterThan(1e-6); // bfloat16 panels really were read
    const argmax = (row: Float32Array) => row.reduce((best, x, i) => (x > row[best]! ? i : best), 0);
    expect(bf16.map(argmax)).toEqual(f32.map(argmax));
    console.log(`bf16 weight store on gpt2-tiny: max |logit - float32 logit| = ${worst.toExponential(2)} over 8 decode steps`);
  });

  it('weights past the kept-panel limit (GPT-2 XL past 2.5 GiB; 0 here) are copied into the heap per product, bf16 decoding streams its panels: the same bits as kept panels', async () => {
    // fresh arrays: panels kept for the shared ones by earlier tests would be found first
    const fresh = () => new Map([...weights].map(([name, w]) => [name, { ...w, data: Float32Array.from(w.data as Float32Array) }]));
    const [kept, keptDecode, keptBf16] = [await logits({}), await decodeLogits({ weightStore: 'f32' }, 4), await decodeLogits({ weightStore: 'bf16' }, 4)];
    setKeptPanelsMax(0);
    try {
      expect(maxAbsDiff(await logits({}, fresh()), kept)).toBe(0);
      const perProduct = await decodeLogits({ weightStore: 'f32' }, 4, fresh());
      const streamed = await decodeLogits({ weightStore: 'bf16' }, 4, fresh(), () => expect(streamedPanelBytes()).toBeGreaterThan(0));
      for (let i = 0; i < 4; i++) {
        expect(maxAbsDiff(perProduct[i]!, keptDecode[i]!)).toBe(0);
        expect(maxAbsDiff(streamed[i]!, keptBf16[i]!)).toBe(0);
      }
      expect(maxAbsDiff(streamed[0]!, keptDecode[0]!)).toBeGreaterThan(0); // bfloat16 panels, not float32 ones
    } finally {
      setKeptPanelsMax();
    }
  });

  it('under the bf16 store, decoding\'s bfloat16 panels take the kept room from prefill\'s float32 panels; a batch of decoding rows reads them too', async () => {
    const fresh = () => new Map([...weights].map(([name, w]) => [name, { ...w, data: Float32Array.from(w.data as Float32Array) }]));
    // two rows of their own: the prompt and its reverse, stepping through other tokens
    const [otherPrompt, otherTokens] = [[...expected.prompt_ids].reverse(), expected.greedy_20.slice(8)];
    const keptBf16 = [await decodeLogits({ weightStore: 'bf16' }, 4), await decodeLogits({ weightStore: 'bf16' }, 4, weights, undefined, otherPrompt, otherTokens)];
    const keptPrefill = await prefillLogits({ weightStore: 'bf16' });
    // room for decoding's bfloat16 panels and nothing more: prefill's float32 panels, packed first,
    // must all give way
    const blocks = cfg.nLayer * 12 * cfg.nEmbd * cfg.nEmbd * 4;
    const head = panelBytes(cfg.nEmbd, cfg.vocabSize) / 2;
    setKeptPanelsMax(blocks / 2 + head);
    const decoder = new KvCacheDecoder(gpt2CachedPlans(cfg), fresh(), withPrepareOptions(cpuBackend, { cpu: { weightStore: 'bf16', ...ALL_ON_KERNELS } }));
    try {
      await decoder.prepare();
      expect(streamedPanelBytes()).toBe(0); // every decoding panel kept
      expect(arenaBytesInUse()).toBe(blocks / 2 + head); // and only those: every float32 panel gave way
      // past the limit (float32 panels not kept), a batch of decoding rows reads the bfloat16 panels
      // row by row: each row the bits of its own run alone
      const first = await decoder.prefill([expected.prompt_ids, otherPrompt]);
      expect(maxAbsDiff(first[0]!, keptPrefill)).toBe(0); // prefill: float32, copied and packed per product
      for (let i = 0; i < 4; i++) {
        const rows = await decoder.step([expected.greedy_20[i]!, otherTokens[i]!]);
        rows.forEach((row, b) => expect(maxAbsDiff(row, keptBf16[b]![i]!), `row ${b}, step ${i}`).toBe(0));
      }
    } finally {
      await decoder.dispose();
      setKeptPanelsMax();
    }
  });
});

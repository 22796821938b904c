/**
 * The peers compute what Loom computes: on tiny models and the same weights, onnxruntime-node's
 * outputs match Loom's float64 reference backend. Without this, a benchmark row could time a
 * different function. Weights come twice: as the benchmark draws them (randomWeights, small values,
 * near-uniform attention) and sharpened (x8), so attention is peaked and a wrong mask, head split
 * or position would show.
 */
import { randomWeights, referenceBackend } from '@loom/backends';
import { Q4, Q8, type NDArray, type Weights } from '@loom/graph';
import { buildGpt2, type Gpt2Config } from '@loom/models';
import { afterAll, describe, expect, it } from 'vitest';
import { buildLoomEncoderLayer, encoderLayerConfig, ortEncoderLayerRun, ortEncoderLayerSession, type EncoderLayerSizes } from './onnx-encoder-layer.ts';
import { OrtGpt2Decoder, ortGpt2Greedy, ortGpt2Prefill, ortGpt2Session } from './onnx-gpt2.ts';
import { matmulOnnxModel } from './onnx-matmul.ts';
import { ort, ortSession } from './ort-session.ts';
import { median } from '../timing.ts';

const TINY_GPT2: Gpt2Config = { nLayer: 2, nHead: 4, nEmbd: 64, nInner: 256, nPositions: 32, vocabSize: 100, eps: 1e-5, activation: 'gelu_tanh', eosTokenId: null };
const TINY_LAYER: EncoderLayerSizes = { dModel: 64, heads: 4, dFF: 256, vocab: 50, maxLen: 64 };

/** Matrices times `gain`, LayerNorm gains and biases kept (LayerNorm would undo their scaling anyway). */
function sharpened(weights: Weights, gain: number): Weights {
  return new Map(
    [...weights].map(([name, w]): [string, NDArray] => {
      if (w.shape.length < 2) return [name, w];
      return [name, { ...w, data: Float32Array.from(w.data, (x) => x * gain) }];
    }),
  );
}

/** max |a - b| / max |b|: the error relative to the output's scale. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let error = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    error = Math.max(error, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return error / scale;
}

const i32 = (shape: number[], values: readonly number[]): NDArray => ({ dtype: 'i32', shape, data: Int32Array.from(values) });

const TOLERANCE = 1e-4;
const errors: Record<string, number> = {};

describe.each([
  ['randomWeights', 1],
  ['sharpened x8', 8],
])('onnxruntime peers vs Loom reference (%s)', (label, gain) => {
  const gpt2 = buildGpt2(TINY_GPT2);
  const gpt2Weights = sharpened(randomWeights(gpt2, 11), gain);
  const prompt = [3, 97, 14, 0, 55, 21, 8, 63, 40];

  async function loomLogits(ids: readonly number[]): Promise<Float64Array | Float32Array> {
    const model = await referenceBackend.prepare(gpt2, gpt2Weights);
    const out = (await model.run({ input_ids: i32([1, ids.length], ids) }))['logits']!;
    model.dispose();
    return out.data as Float64Array;
  }

  it('GPT-2 prefill: logits [1, T, V] of every position', async () => {
    const session = await ortGpt2Session(TINY_GPT2, gpt2Weights, { threads: 1, kind: 'prefill' });
    const error = relativeError(await ortGpt2Prefill(session, prompt), await loomLogits(prompt));
    await session.release();
    errors[`gpt2 prefill, ${label}`] = error;
    expect(error).toBeLessThan(TOLERANCE);
  });

  it.each([
    ['q8', Q8],
    ['q4', Q4],
  ] as const)('GPT-2 prefill with %s weights as MatMulNBits: the logits of Loom\'s same quantized weights', async (store, quantization) => {
    const session = await ortGpt2Session(TINY_GPT2, gpt2Weights, { threads: 1, kind: 'prefill', quantized: { quantization, accuracyLevel: 0 } });
    const model = await referenceBackend.prepare(gpt2, gpt2Weights, { weightStore: store });
    const want = (await model.run({ input_ids: i32([1, prompt.length], prompt) }))['logits']!.data;
    model.dispose();
    const error = relativeError(await ortGpt2Prefill(session, prompt), want);
    await session.release();
    errors[`gpt2 prefill ${store} MatMulNBits, ${label}`] = error;
    expect(error).toBeLessThan(TOLERANCE);
    // and it is the quantized function: the float model's logits differ by far more
    expect(relativeError(want, await loomLogits(prompt))).toBeGreaterThan(10 * TOLERANCE);
  });

  it("GPT-2 prefill on onnxruntime-web's wasm backend (transformers.js's engine): the same logits", async () => {
    const session = await ortGpt2Session(TINY_GPT2, gpt2Weights, { threads: 1, kind: 'prefill', engine: 'web' });
    const error = relativeError(await ortGpt2Prefill(session, prompt), await loomLogits(prompt));
    await session.release();
    errors[`gpt2 prefill onnxruntime-web, ${label}`] = error;
    expect(error).toBeLessThan(TOLERANCE);
  });

  it('GPT-2 decode with the KV cache: the prompt, then greedy steps, each equal to the full forward at that position', async () => {
    const steps = 5;
    const session = await ortGpt2Session(TINY_GPT2, gpt2Weights, { threads: 1, kind: 'decode' });
    const run = await ortGpt2Greedy(session, TINY_GPT2, prompt, steps);
    await session.release();
    const all = await loomLogits([...prompt, ...run.tokens]); // one forward over prompt + generated tokens
    const v = TINY_GPT2.vocabSize;
    let worst = 0;
    for (let k = 0; k <= steps; k++) {
      const position = prompt.length - 1 + k;
      worst = Math.max(worst, relativeError(run.logits[k]!, all.subarray(position * v, (position + 1) * v)));
    }
    errors[`gpt2 decode, ${label}`] = worst;
    expect(worst).toBeLessThan(TOLERANCE);
    if (gain > 1) expect(new Set(run.tokens).size).toBeGreaterThan(1); // peaked weights: steps do not just repeat
  });

  it('GPT-2 decode: a prompt fed in two chunks (masking inside a chunk on a non-empty cache)', async () => {
    const session = await ortGpt2Session(TINY_GPT2, gpt2Weights, { threads: 1, kind: 'decode' });
    const decoder = new OrtGpt2Decoder(session, TINY_GPT2);
    await decoder.start(prompt.slice(0, 4));
    const logits = await decoder.feed(prompt.slice(4));
    expect(decoder.length).toBe(prompt.length);
    await session.release();
    const v = TINY_GPT2.vocabSize;
    const last = prompt.length - 1;
    const error = relativeError(logits, (await loomLogits(prompt)).subarray(last * v, (last + 1) * v));
    errors[`gpt2 chunked prompt, ${label}`] = error;
    expect(error).toBeLessThan(TOLERANCE);
  });

  it('encoder layer: post-norm, padding mask, sinusoid, batch of two with padding', async () => {
    const graph = buildLoomEncoderLayer(TINY_LAYER);
    const weights = sharpened(randomWeights(graph, 12), gain);
    const ids = [7, 41, 2, 19, 33, 5, 0, 0, 12, 49, 1, 28, 9, 30, 44, 0]; // [2, 8], pad id 0 at the ends
    const session = await ortEncoderLayerSession(encoderLayerConfig(TINY_LAYER), weights, 1);
    const actual = await ortEncoderLayerRun(session, ids, 2);
    await session.release();
    const model = await referenceBackend.prepare(graph, weights);
    const expected = (await model.run({ src_ids: i32([2, 8], ids) }))['memory']!.data;
    model.dispose();
    const error = relativeError(actual, expected);
    errors[`encoder layer, ${label}`] = error;
    expect(error).toBeLessThan(TOLERANCE);
  });
});

describe('matmul peer and timing helper', () => {
  it('onnxruntime matmul computes A @ B', async () => {
    const n = 16;
    const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 37) % 11) - 5);
    const b = Float32Array.from({ length: n * n }, (_, i) => ((i * 53) % 7) - 3);
    const session = await ortSession(matmulOnnxModel(n), 1);
    const c = (await session.run({ A: new ort.Tensor('float32', a, [n, n]), B: new ort.Tensor('float32', b, [n, n]) }))['C']!.data as Float32Array;
    await session.release();
    const expected = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) expected[i * n + j]! += a[i * n + k]! * b[k * n + j]!;
    expect([...c]).toEqual([...expected]); // small integers: exact
  });

  it('median', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

// the maxima, for reading in the test output
afterAll(() => console.log('peer max relative errors:', errors));

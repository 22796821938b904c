/**
 * Peer runtimes for the benchmark, timing-ready: onnxruntime-node (or onnxruntime-web's wasm
 * backend, `engine: 'web'`) running the same GPT-2 and encoder layer as Loom from the same weights, and float32 matmul on onnxruntime-node and
 * TensorFlow.js (wasm, and webgl on headless-gl). Every time is a median; session creation and weight loading are not timed.
 * peers.test.ts checks that the ONNX graphs compute what Loom's graphs compute.
 *
 * A peer that cannot load throws PeerUnavailableError (reason in the message); catch it to print
 * the row as unavailable.
 */
import type { Backend } from '@loom/backends';
import type { NDArray, Weights } from '@loom/graph';
import { argmax, type Gpt2Config } from '@loom/models';
import { median, medianRuns } from '../timing.ts';
import { BASE_ENCODER_LAYER, buildLoomEncoderLayer, encoderLayerConfig, ortEncoderLayerRun, ortEncoderLayerSession, type EncoderLayerSizes } from './onnx-encoder-layer.ts';
import { ortGpt2Prefill, ortGpt2Session, OrtGpt2Decoder } from './onnx-gpt2.ts';
import { tfjsWasmMatmul } from './tfjs-matmul.ts';
import type { OrtEngine } from './ort-session.ts';

export { PeerUnavailableError, firstLine } from './peer-unavailable.ts';
export { gpt2OnnxModel, ortGpt2Session, ortGpt2Prefill, ortGpt2Greedy, OrtGpt2Decoder, type Gpt2OnnxKind, type GreedyRun, type OrtGpt2Options } from './onnx-gpt2.ts';
export { BASE_ENCODER_LAYER, buildLoomEncoderLayer, encoderLayerConfig, encoderLayerOnnxModel, ortEncoderLayerSession, ortEncoderLayerRun, type EncoderLayerSizes } from './onnx-encoder-layer.ts';
export { ortMatmulGflops, matmulOnnxModel } from './onnx-matmul.ts';
export { tfjsWasmMatmul, type TfjsMatmulResult } from './tfjs-matmul.ts';
export { tfjsWebglMatmulMs } from './tfjs-webgl.ts';

/** Deterministic token ids spread over the vocabulary, as bench.ts feeds GPT-2. */
export function benchTokenIds(length: number, vocab: number): number[] {
  return Array.from({ length }, (_, i) => (i * 7919) % vocab);
}

/** Source ids for the encoder layer: never the pad id 0, so every key is attended to. */
export function encoderLayerIds(length: number, vocab: number): number[] {
  return Array.from({ length }, (_, i) => 1 + ((i * 7919) % (vocab - 1)));
}

/** Median ms of one GPT-2 prefill forward on onnxruntime-node (batch 1, all `seq` positions' logits). */
export async function ortGpt2PrefillMs(cfg: Gpt2Config, weights: Weights, seq: number, threads: number, reps = 3, engine: OrtEngine = 'node'): Promise<number> {
  const session = await ortGpt2Session(cfg, weights, { threads, kind: 'prefill', engine });
  const ids = benchTokenIds(seq, cfg.vocabSize);
  try {
    return await medianRuns(() => ortGpt2Prefill(session, ids), { reps });
  } finally {
    await session.release();
  }
}

export interface DecodeTiming {
  /** Greedy steps per second with the KV cache, after the prompt. */
  readonly tokensPerSecond: number;
  /** The prompt pass on an empty cache: time to the first token's logits. */
  readonly firstTokenMs: number;
}

/**
 * Greedy decoding with the KV cache on onnxruntime-node: a `promptLength` prompt, then `steps`
 * tokens, repeated `reps` times after one untimed generation; medians of both phases.
 */
export async function ortGpt2DecodeTokensPerSecond(cfg: Gpt2Config, weights: Weights, promptLength: number, steps: number, threads: number, reps = 3, engine: OrtEngine = 'node'): Promise<DecodeTiming> {
  if (promptLength + steps > cfg.nPositions) throw new RangeError(`decode: ${promptLength} + ${steps} tokens exceed the model's ${cfg.nPositions} positions`);
  const session = await ortGpt2Session(cfg, weights, { threads, kind: 'decode', engine });
  const decoder = new OrtGpt2Decoder(session, cfg);
  const prompt = benchTokenIds(promptLength, cfg.vocabSize);
  const firstTokenMs: number[] = [];
  const stepsMs: number[] = [];
  try {
    for (let r = 0; r <= reps; r++) {
      const start = performance.now();
      let logits = await decoder.start(prompt);
      const prompted = performance.now();
      for (let s = 0; s < steps; s++) logits = await decoder.step(argmax(logits));
      if (r === 0) continue; // warm-up
      firstTokenMs.push(prompted - start);
      stepsMs.push(performance.now() - prompted);
    }
  } finally {
    await session.release();
  }
  return { tokensPerSecond: (steps * 1000) / median(stepsMs), firstTokenMs: median(firstTokenMs) };
}

/**
 * Median ms of one encoder layer forward on onnxruntime-node (batch 1, `seq` tokens). `weights`
 * are those of buildLoomEncoderLayer(sizes), e.g. randomWeights of that graph.
 */
export async function ortEncoderLayerMs(weights: Weights, threads: number, seq = 128, sizes: EncoderLayerSizes = BASE_ENCODER_LAYER, reps = 7, engine: OrtEngine = 'node'): Promise<number> {
  const session = await ortEncoderLayerSession(encoderLayerConfig(sizes), weights, threads, engine);
  const ids = encoderLayerIds(seq, sizes.vocab);
  try {
    return await medianRuns(() => ortEncoderLayerRun(session, ids), { reps });
  } finally {
    await session.release();
  }
}

/** The same layer on a Loom backend (prepare is not timed; the first run is the untimed warm-up). */
export async function loomEncoderLayerMs(backend: Backend, weights: Weights, seq = 128, sizes: EncoderLayerSizes = BASE_ENCODER_LAYER, reps = 7): Promise<number> {
  const model = await backend.prepare(buildLoomEncoderLayer(sizes), weights);
  const ids: NDArray = { dtype: 'i32', shape: [1, seq], data: Int32Array.from(encoderLayerIds(seq, sizes.vocab)) };
  try {
    return await medianRuns(() => model.run({ src_ids: ids }), { reps });
  } finally {
    model.dispose();
  }
}

/** Median GFLOP/s of an n^3 float32 matmul on tfjs-wasm (one thread in Node); throws PeerUnavailableError. */
export async function tfjsWasmMatmulGflops(n: number, reps = 5): Promise<number> {
  return (await tfjsWasmMatmul(n, reps)).gflops;
}

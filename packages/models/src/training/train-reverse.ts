import type { Backend, PrepareOptions } from '@loom/backends';
import { withCrossEntropyLoss, type LrSchedule, type OptimizerSpec } from '@loom/compiler';
import type { Graph, NDArray } from '@loom/graph';
import { ReverseModel } from '../reverse/reverse-model.ts';
import { TransformerRunner } from '../runners/transformer-runner.ts';
import { buildTransformer } from '../transformer/model.ts';
import type { ReverseSpec } from '../transformer/reverse-spec.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { initialWeights } from './initial-weights.ts';
import { drawReverseBatch, heldOutTexts, TaskRandom } from './reverse-task.ts';
import { Trainer } from './trainer.ts';

/**
 * Training the paper's encoder-decoder Transformer to reverse strings, from random weights: batches
 * of generated strings (reverse-task.ts), teacher-forced cross-entropy with label smoothing 0.1 over
 * the target positions (PAD ignored), AdamW with the paper's warm-up and inverse-square-root decay,
 * gradients clipped to norm 1; every `evalEvery` steps, exact greedy reversals of held-out strings.
 */
export interface TrainReverseOptions {
  readonly spec: ReverseSpec;
  readonly backend: Backend;
  /** Strings of 1 to maxLen characters. */
  readonly maxLen: number;
  readonly steps: number;
  readonly batch?: number;
  readonly seed?: number;
  /** Validation strings (default 300), reversed every `evalEvery` steps (default 500): their accuracy is what `stopAt` watches. */
  readonly validation?: number;
  readonly evalEvery?: number;
  /** Stop once the validation accuracy reaches this (default: run every step). */
  readonly stopAt?: number;
  /** Held-out test strings (default 300, drawn apart from the validation strings), reversed once at the end: the accuracy reported. */
  readonly heldOut?: number;
  readonly optimizer?: OptimizerSpec;
  readonly schedule?: LrSchedule;
  readonly prepare?: PrepareOptions;
  /** Recompute each layer's activations in the backward pass: less memory, about a third more compute. */
  readonly recompute?: boolean;
  /** Save a checkpoint here every `checkpointEvery` steps (default: with each evaluation) and at the end. */
  readonly checkpoint?: string;
  readonly checkpointEvery?: number;
  /** Replace an existing checkpoint file (otherwise its existence is an error, unless resuming from it). */
  readonly replaceCheckpoint?: boolean;
  /** Continue from this checkpoint (its step count, weights, optimizer states and data generator). */
  readonly resume?: string;
  /** Called after every step. */
  readonly onStep?: (s: StepProgress) => void;
  /** Called after every evaluation. */
  readonly onEval?: (e: EvalProgress) => void;
  /** Called after every checkpoint written (to save what goes with it, such as the loss curve). */
  readonly onSave?: () => Promise<void>;
}

export interface StepProgress {
  readonly step: number;
  readonly loss: number;
  readonly lr: number;
  readonly gradNorm: number;
  /** Target tokens predicted per second over this step (the source tokens are read as many again). */
  readonly tokensPerSecond: number;
  readonly elapsedMs: number;
}

export interface EvalProgress {
  readonly step: number;
  /** Exact greedy reversals among the validation strings. */
  readonly accuracy: number;
  /** The shortest validation string not reversed exactly, to show where training stands. */
  readonly shortestMissed?: number;
}

export interface TrainReverseResult {
  readonly steps: number;
  /** Exact greedy reversals among the held-out test strings, after the last step. */
  readonly accuracy: number;
  /** The last validation accuracy. */
  readonly validationAccuracy: number;
  readonly weights: Map<string, NDArray>;
  readonly elapsedMs: number;
}

/** The defaults, chosen for the 2-core CPU: see BENCHMARKS.md's training runs. */
export const REVERSE_TRAINING = {
  /** At most this many steps... */
  steps: 5000,
  /** ...stopping once this fraction of the validation strings is reversed exactly. */
  target: 0.995,
  batch: 32,
  optimizer: { kind: 'adamw', betas: [0.9, 0.98], eps: 1e-9, weightDecay: 0.01 } as OptimizerSpec,
  /** Linear warm-up, then a half cosine over the run's steps (the paper's inverse square root decays too early for a short run). */
  schedule: (steps: number): LrSchedule => ({ kind: 'cosine', lr: 2e-3, warmup: 400, total: steps, min: 2e-5 }),
  clipNorm: 1,
  labelSmoothing: 0.1,
  /**
   * The source's positions count from its end, so output i of a reversal reads the source token of
   * position i, its own position (from the start, output i must find position n - 1 - i, which the
   * paper's model learns slowly: about 50% exact at 1 to 48 characters after 2000 steps).
   */
  sourcePositions: 'from-end' as const,
  /** No EOS at the source's end (reverse.json's source_eos: the end is position 0 already). */
  sourceEos: false,
} as const;

/** The seeds of the validation and test strings: apart from each other and from any training seed's stream. */
const VALIDATION_SEED = 20261206;
export const REVERSE_TEST_SEED = 4111;

/** The teacher-forcing graph of the reverse model with its training loss (inputs src_ids, tgt_ids, tgt_out). */
export function reverseLossGraph(spec: ReverseSpec): Graph {
  return withCrossEntropyLoss(buildTransformer(spec.config), { labels: 'tgt_out', ignoreIndex: spec.vocab.pad, labelSmoothing: REVERSE_TRAINING.labelSmoothing, keep: [] });
}

/** The exact-reversal accuracy of `weights` on `texts` (greedy decoding, every text as one batch). */
export async function reversalAccuracy(spec: ReverseSpec, weights: Map<string, NDArray>, backend: Backend, texts: readonly string[]): Promise<{ accuracy: number; shortestMissed?: number }> {
  const runner = new TransformerRunner(spec.config, weights, backend);
  try {
    const model = new ReverseModel(spec, runner);
    const decoded = (await model.reverseIds(texts)).map((ids) => spec.vocab.decode(ids));
    let right = 0;
    let shortestMissed: number | undefined;
    texts.forEach((t, i) => {
      if (decoded[i] === [...t].reverse().join('')) right++;
      else shortestMissed = Math.min(shortestMissed ?? Infinity, t.length);
    });
    return { accuracy: right / texts.length, ...(shortestMissed !== undefined ? { shortestMissed } : {}) };
  } finally {
    await runner.dispose();
  }
}

export async function trainReverse(options: TrainReverseOptions): Promise<TrainReverseResult> {
  const { spec, backend } = options;
  const graph = reverseLossGraph(spec);
  const seed = options.seed ?? 1;
  const resumed = options.resume ? await loadCheckpoint(options.resume) : undefined;
  const weights = resumed ? new Map([...resumed.tensors].filter(([name]) => !name.startsWith('opt.'))) : initialWeights(graph, seed);
  // a resumed run keeps its optimizer and schedule (a cosine's length included), whatever --steps now says
  const optimizer = options.optimizer ?? (resumed?.run['optimizer'] as OptimizerSpec | undefined) ?? REVERSE_TRAINING.optimizer;
  const schedule = options.schedule ?? (resumed?.run['schedule'] as LrSchedule | undefined) ?? REVERSE_TRAINING.schedule(options.steps);
  const trainer = await Trainer.create(backend, graph, weights, { optimizer, schedule, clipNorm: REVERSE_TRAINING.clipNorm, ...(options.recompute ? { recompute: true } : {}), ...(options.prepare ? { prepare: options.prepare } : {}) }, resumed?.tensors);
  const random = resumed ? TaskRandom.restore(resumed.generator) : new TaskRandom(seed);
  const validationTexts = heldOutTexts(spec.vocab.chars, options.validation ?? 300, options.maxLen, VALIDATION_SEED);
  const batch = options.batch ?? REVERSE_TRAINING.batch;
  const evalEvery = options.evalEvery ?? 500;
  const started = performance.now();
  let step = await trainer.steps();
  let accuracy = 0;
  let evaluated = false;
  let replace = options.replaceCheckpoint ?? options.resume === options.checkpoint;
  const save = async () => {
    if (!options.checkpoint) return;
    await saveCheckpoint(options.checkpoint, { tensors: await trainer.states(), generator: random.save(), run: { task: 'reverse', maxLen: options.maxLen, batch, seed, config: spec.config, sourceEos: spec.sourceEos, optimizer, schedule } }, replace);
    replace = true;
    await options.onSave?.();
  };
  const evaluate = async () => {
    const result = await reversalAccuracy(spec, await trainer.parameters(), backend, validationTexts);
    accuracy = result.accuracy;
    evaluated = true;
    options.onEval?.({ step, ...result });
  };
  try {
    while (step < options.steps) {
      const b = drawReverseBatch(spec.vocab, random, batch, options.maxLen, spec.sourceEos);
      const t0 = performance.now();
      const r = await trainer.step({ src_ids: b.src, tgt_ids: b.tgtIn, tgt_out: b.tgtOut });
      step++;
      options.onStep?.({ step, loss: r.loss, lr: r.lr, gradNorm: r.gradNorm, tokensPerSecond: (1000 * b.tokens) / (performance.now() - t0), elapsedMs: performance.now() - started });
      if (step % evalEvery === 0 || step === options.steps) {
        await evaluate();
        await save();
        if (options.stopAt !== undefined && accuracy >= options.stopAt) break;
      } else if (options.checkpointEvery && step % options.checkpointEvery === 0) await save();
    }
    if (!evaluated) await evaluate(); // a run resumed at its last step
    const weights = await trainer.parameters();
    const test = await reversalAccuracy(spec, weights, backend, heldOutTexts(spec.vocab.chars, options.heldOut ?? 300, options.maxLen, REVERSE_TEST_SEED));
    return { steps: step, accuracy: test.accuracy, validationAccuracy: accuracy, weights, elapsedMs: performance.now() - started };
  } finally {
    trainer.dispose();
  }
}

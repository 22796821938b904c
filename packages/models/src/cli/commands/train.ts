import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { writeSafetensors } from '@loom/graph';
import { writeFileAtomic } from '@loom/graph/node';
import { FileError, ModelInputError } from '../../errors.ts';
import { readUserFile } from '../../files.ts';
import { systemErrorText } from '../../io/output-file.ts';
import { SHIPPED_WEIGHTS_DIR } from '../../reverse/load-reverse.ts';
import { loadCheckpoint } from '../../training/checkpoint.ts';
import { REVERSE_TRAINING, trainReverse, type EvalProgress, type StepProgress } from '../../training/train-reverse.ts';
import { parseReverseSpec, reverseJsonOf } from '../../transformer/reverse-spec.ts';
import { torchTransformerMapping } from '../../weights/transformer-weights.ts';
import { toCheckpointNames } from '../../weights/mapping.ts';
import { quietIo, type CliIo } from '../io.ts';
import { addCpuKernelOptions, backendOption, commandBackend, cpuPrepareOptions, parsePositiveInt, parseNumber, parseSeed, type CpuKernelFlags } from '../options.ts';
import type { Progress } from '../progress.ts';

/** What `loom train reverse --out W` writes into W. */
export const TRAINED_FILES = {
  description: 'reverse.json',
  weights: 'reverse-transformer.safetensors',
  checkpoint: 'checkpoint.safetensors',
  lossCurve: 'loss.csv',
} as const;

interface TrainReverseFlags extends CpuKernelFlags {
  maxLen: number;
  steps: number;
  batch: number;
  seed: number;
  evalEvery: number;
  target: number;
  out: string;
  resume?: boolean;
  force?: boolean;
  quiet?: boolean;
  recompute?: boolean;
  from?: string;
  sourcePositions?: 'from-start' | 'from-end';
}

/** `loom train`: training Loom models from random weights (one task so far: reversing strings). */
export function trainCommand(io: CliIo): Command {
  return new Command('train').description('train a model from random weights').addCommand(trainReverseCommand(io));
}

/**
 * `loom train reverse`: the paper's encoder-decoder Transformer (the shipped model's config) trained
 * from random weights to reverse strings of 1 to --max-len characters; the weights, reverse.json,
 * a resumable checkpoint and the loss curve go to --out.
 */
function trainReverseCommand(io: CliIo): Command {
  return addCpuKernelOptions(new Command('reverse'))
    .description('train the encoder-decoder Transformer of reverse.json from random weights to reverse strings of 1 to --max-len characters; writes reverse.json, reverse-transformer.safetensors (PyTorch names, as shipped), checkpoint.safetensors and loss.csv to --out')
    .option('--max-len <n>', 'train on strings of 1 to n characters', parsePositiveInt('--max-len'), 48)
    .option('--steps <n>', 'at most this many optimizer steps', parsePositiveInt('--steps'), REVERSE_TRAINING.steps)
    .option('--batch <n>', 'strings per step', parsePositiveInt('--batch'), REVERSE_TRAINING.batch)
    .option('--seed <s>', 'seed of the initial weights and of the generated strings', parseSeed, 1)
    .option('--eval-every <n>', 'reverse the 300 validation strings every n steps', parsePositiveInt('--eval-every'), 250)
    .option('--target <accuracy>', 'stop once this fraction of the validation strings is reversed exactly (1 = run every step)', parseNumber('--target', (x) => x > 0 && x <= 1, 'in (0, 1]'), REVERSE_TRAINING.target)
    .option('--out <dir>', 'the folder to write (created if missing)', 'reverse-model')
    .option('--resume', "continue the run whose checkpoint is in --out (its max length, batch and seed)")
    .option('--force', 'replace the files of an earlier run in --out')
    .option('--recompute', "recompute each layer's activations in the backward pass (less memory, more compute)")
    .option('--quiet', 'no progress bar')
    .addOption(backendOption())
    .addOption(new Option('--from <dir>', 'the folder of the reverse.json whose config is trained (default: the shipped one)'))
    .addOption(new Option('--source-positions <way>', "how the source's positions count: from its end (output i reads position i; the recipe) or from its start (the paper's)").choices(['from-end', 'from-start']))
    .action(async (opts: TrainReverseFlags) => {
      // weights change every step: a store that rounds them is for running a trained model
      if (opts.weightStore && opts.weightStore !== 'f32') throw new ModelInputError(`--weight-store ${opts.weightStore}: training updates float32 weights; quantized and bfloat16 stores are for running a trained model (loom reverse / generate --weight-store)`);
      const out = resolve(opts.out);
      const files = prepareOutFolder(out, opts);
      const checkpointPath = join(out, TRAINED_FILES.checkpoint);
      const run = opts.resume ? (await loadCheckpoint(checkpointPath)).run : undefined;
      const maxLen = run ? Number(run['maxLen']) : opts.maxLen;
      const batch = run ? Number(run['batch']) : opts.batch;
      const seed = run ? Number(run['seed']) : opts.seed;
      const fromDir = opts.from ?? (opts.resume ? out : SHIPPED_WEIGHTS_DIR);
      const descriptionPath = join(fromDir, TRAINED_FILES.description);
      const base = parseReverseSpec(readUserFile(descriptionPath, 'model description').toString('utf8'), descriptionPath);
      if (maxLen > base.config.maxLen - 2) throw new ModelInputError(`--max-len ${maxLen}: the model's ${base.config.maxLen} positions hold strings of at most ${base.config.maxLen - 2} characters (with BOS and EOS)`);
      // the source's format: the recipe's for a new run, the checkpoint's for a resumed one
      const sourcePositions = run ? ((run['config'] as { sourcePositions?: 'from-start' | 'from-end' }).sourcePositions ?? 'from-start') : (opts.sourcePositions ?? REVERSE_TRAINING.sourcePositions);
      const spec = { ...base, config: { ...base.config, sourcePositions }, trainedMaxChars: maxLen, sourceEos: run ? run['sourceEos'] === true : REVERSE_TRAINING.sourceEos };
      const backend = await commandBackend(opts);
      // the description first (without the training record), so that a run stopped early can be resumed
      if (!opts.resume) await files.write(TRAINED_FILES.description, new TextEncoder().encode(`${JSON.stringify(reverseJsonOf(spec), null, 1)}\n`));
      const curve = new LossCurve(join(out, TRAINED_FILES.lossCurve), opts.resume);
      const report = new TrainingReport(quietIo(io, opts.quiet), opts.steps);
      const result = await trainReverse({
        spec,
        backend,
        maxLen,
        steps: opts.steps,
        batch,
        seed,
        evalEvery: opts.evalEvery,
        stopAt: opts.target,
        checkpoint: checkpointPath,
        ...(opts.recompute ? { recompute: true } : {}),
        replaceCheckpoint: true,
        ...(opts.resume ? { resume: checkpointPath } : {}),
        ...(cpuPrepareOptions(opts) ? { prepare: cpuPrepareOptions(opts)! } : {}),
        onStep: (s) => {
          curve.step(s);
          report.step(s);
        },
        onEval: (e) => {
          curve.evaluation(e);
          report.evaluation(e);
        },
        onSave: () => curve.write(),
      });
      report.stop();
      const record = { trained_by: 'loom train reverse', train_steps: result.steps, train_seconds: Math.round(result.elapsedMs / 1000), backend: backend.name, batch, seed, greedy_exact_accuracy_300: result.accuracy };
      await files.write(TRAINED_FILES.weights, writeSafetensors(toCheckpointNames(result.weights, torchTransformerMapping)));
      await files.write(TRAINED_FILES.description, new TextEncoder().encode(`${JSON.stringify(reverseJsonOf(spec, record), null, 1)}\n`));
      await curve.write();
      io.out(`${result.steps} steps in ${formatDuration(result.elapsedMs)}: ${(100 * result.accuracy).toFixed(1)}% of 300 held-out strings of 1 to ${maxLen} characters reversed exactly (validation ${(100 * result.validationAccuracy).toFixed(1)}%)\n`);
      io.out(`wrote ${join(opts.out, TRAINED_FILES.description)}, ${TRAINED_FILES.weights}, ${TRAINED_FILES.checkpoint} and ${TRAINED_FILES.lossCurve}; try: loom reverse --model ${opts.out} "hello world"\n`);
    });
}

/** --out: created if missing; files of an earlier run there are replaced only with --force (or continued with --resume). */
function prepareOutFolder(out: string, opts: { resume?: boolean; force?: boolean }): { write(name: string, bytes: Uint8Array): Promise<void> } {
  if (existsSync(out) && !statSync(out).isDirectory()) throw new FileError(`--out '${out}' exists and is not a folder`);
  if (opts.resume && !existsSync(join(out, TRAINED_FILES.checkpoint))) throw new FileError(`--resume: there is no ${TRAINED_FILES.checkpoint} in '${out}' to continue from`);
  if (!opts.resume && !opts.force) {
    const earlier = Object.values(TRAINED_FILES).filter((f) => existsSync(join(out, f)));
    if (earlier.length > 0) throw new FileError(`--out '${out}' holds an earlier run (${earlier.join(', ')}); pass --force to replace it or --resume to continue it`);
  }
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    throw new FileError(`cannot create --out '${out}': ${systemErrorText(e)}`);
  }
  return {
    async write(name, bytes) {
      try {
        await writeFileAtomic(join(out, name), bytes, { replace: true });
      } catch (e) {
        throw new FileError(`cannot write '${join(out, name)}': ${systemErrorText(e)}`);
      }
    },
  };
}

/** The loss curve as CSV: one row per step (loss, learning rate, gradient norm, tokens/s, seconds), the validation accuracy on the steps that measured it. */
class LossCurve {
  private rows: string[] = ['step,loss,lr,grad_norm,tokens_per_second,seconds,validation_accuracy'];

  /** With `resume`, the curve so far is read back: a resumed run's rows follow it (rows past the checkpoint's step are dropped, their steps run again). */
  constructor(
    private readonly path: string,
    resume = false,
  ) {
    if (resume && existsSync(path)) this.rows = readFileSync(path, 'utf8').trim().split('\n');
  }

  step(s: StepProgress): void {
    while (this.rows.length > 1 && Number(this.rows[this.rows.length - 1]!.split(',')[0]) >= s.step) this.rows.pop();
    this.rows.push(`${s.step},${s.loss},${s.lr},${s.gradNorm},${Math.round(s.tokensPerSecond)},${(s.elapsedMs / 1000).toFixed(2)},`);
  }

  evaluation(e: EvalProgress): void {
    const last = this.rows.length - 1;
    if (this.rows[last]!.startsWith(`${e.step},`)) this.rows[last] += String(e.accuracy);
  }

  /** Written whole, atomically, with every checkpoint and at the end. */
  async write(): Promise<void> {
    await writeFileAtomic(this.path, new TextEncoder().encode(`${this.rows.join('\n')}\n`), { replace: true });
  }
}

/** Progress: a bar on a terminal (loss, validation accuracy, tokens/s, time left), else a line on stderr at each evaluation. */
class TrainingReport {
  private bar: Progress | undefined;
  private accuracy = '-';
  private loss: number | undefined;
  private tokensPerSecond = 0;
  private firstStep: { step: number; ms: number } | undefined;

  constructor(
    private readonly io: CliIo,
    private readonly steps: number,
  ) {}

  step(s: StepProgress): void {
    // an exponential average: one batch's loss swings with the length of its strings
    this.loss = this.loss === undefined ? s.loss : 0.95 * this.loss + 0.05 * s.loss;
    this.tokensPerSecond = this.tokensPerSecond === 0 ? s.tokensPerSecond : 0.95 * this.tokensPerSecond + 0.05 * s.tokensPerSecond;
    this.firstStep ??= { step: s.step - 1, ms: s.elapsedMs };
    this.bar ??= this.io.bar?.('training', this.steps);
    this.bar?.update(s.step, this.detail(s));
  }

  evaluation(e: EvalProgress): void {
    this.accuracy = `${(100 * e.accuracy).toFixed(1)}%`;
    const line = `step ${e.step}: validation ${this.accuracy} exact${e.shortestMissed !== undefined ? ` (shortest missed: ${e.shortestMissed} characters)` : ''}, loss ${this.loss?.toFixed(3) ?? '-'}`;
    if (this.bar) this.bar.interrupt(() => this.io.err(`${line}\n`));
    else this.io.err(`${line}\n`);
  }

  stop(): void {
    this.bar?.stop();
  }

  private detail(s: StepProgress): string {
    const done = s.step - this.firstStep!.step;
    const msPerStep = (s.elapsedMs - 0) / Math.max(1, done);
    const left = formatDuration(msPerStep * (this.steps - s.step));
    return `loss ${this.loss!.toFixed(3)} | validation ${this.accuracy} | ${Math.round(this.tokensPerSecond)} tok/s | ${left} left at most`;
  }
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

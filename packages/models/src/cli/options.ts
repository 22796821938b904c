import { availableParallelism } from 'node:os';
import { BACKEND_NAMES, getBackend, requireFiniteOutputs, resolveThreads, type Backend, type PrepareOptions } from '@loom/backends';
import { Command, InvalidArgumentError, Option } from 'commander';
import { Q4, Q8 } from '@loom/graph';
import { BEAMS_WHY, MAX_BEAMS } from '../config/limits.ts';
import { ModelInputError } from '../errors.ts';
import { weightsBudget } from '../io/model-budget.ts';

/** `--backend <name>`: one of the registered backends, cpu by default. */
export function backendOption(): Option {
  return new Option('--backend <name>', 'backend that runs the model').choices(BACKEND_NAMES).default('cpu');
}

/** What the backend options of a command parsed to. */
export interface CpuKernelFlags {
  backend: string;
  threads?: number;
  weightStore?: 'f32' | 'bf16' | 'q8' | 'q4';
  /** --activations: int8 with a q8 / q4 store (products of integers) */
  activations?: 'f32' | 'int8';
  /** --max-memory, in MiB */
  maxMemory?: number;
  /** commander's name for --allow-nonfinite */
  allowNonfinite?: boolean;
}

/** What the sampling options of a command parsed to. */
export interface SamplingFlags {
  temperature?: number;
  topK?: number;
  topP?: number;
  seed: number;
}

/** `--temperature`, `--top-k`, `--top-p` and `--seed`: sampling instead of greedy or beam search. */
export function addSamplingOptions(command: Command): Command {
  return command
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', parseNumber('--temperature', (x) => x >= 0, 'a number >= 0'))
    .option('--top-k <k>', 'sample from the k most likely tokens', parsePositiveInt('--top-k'))
    .option('--top-p <p>', 'sample from the smallest set of tokens with probability >= p', parseNumber('--top-p', (x) => x > 0 && x <= 1, 'in (0, 1]'))
    .option('--seed <s>', 'seed of the sampler (0 to 4294967295)', parseSeed, 0);
}

/** The sampling options given (and the seed), for generate() and translate(). */
export function samplingOptions(flags: SamplingFlags): { seed: number; temperature?: number; topK?: number; topP?: number } {
  return {
    seed: flags.seed,
    ...(flags.temperature !== undefined ? { temperature: flags.temperature } : {}),
    ...(flags.topK !== undefined ? { topK: flags.topK } : {}),
    ...(flags.topP !== undefined ? { topP: flags.topP } : {}),
  };
}

/** `--allow-nonfinite`: let NaN and infinite outputs through (they fail the run by default). */
export function addNonFiniteOption(command: Command): Command {
  return command.option('--allow-nonfinite', 'do not fail when the model outputs NaN or infinite values');
}

/** The backend a command runs on: named, with its cpu options, its outputs checked for NaN and infinities unless allowed. */
export async function commandBackend(flags: CpuKernelFlags): Promise<Backend> {
  const backend = await getBackend(flags.backend, cpuPrepareOptions(flags));
  // a GPU backend's device (webgl: an Xvfb and a GL context) starts while the command reads and
  // compiles its model; a failure surfaces at the first prepare, which acquires it again
  (backend as { runtime?: () => Promise<unknown> }).runtime?.().catch(() => {});
  return flags.allowNonfinite ? backend : requireFiniteOutputs(backend);
}

/** `--threads <n>`, `--weight-store <f32|bf16|q8|q4>` and `--max-memory <MiB>`: how the backend runs (see cpuPrepareOptions). */
export function addCpuKernelOptions(command: Command): Command {
  return command
    .option('--threads <n>', 'cpu backend: threads for matmuls and attention (default: all cores)', parsePositiveInt('--threads'))
    .addOption(new Option('--activations <kind>', 'with --weight-store q8 or q4: int8 rounds each product\'s input rows to int8 per group of 32, so the cpu multiplies integers (faster decoding, a little more error)').choices(['f32', 'int8']))
    .addOption(new Option('--weight-store <kind>', 'how matmul weights are held: q8 / q4 (int8 / int4 codes, a scale per 32 weights; every backend) read a quarter / an eighth of float32\'s bytes; bf16 (cpu) halves the bytes read per decoded token').choices(['f32', 'bf16', 'q8', 'q4']))
    .option('--max-memory <MiB>', 'memory the model and a run may hold (default: 3/4 of the machine): the config and the decoding batch are checked before anything is built, and the cpu, webgl and webgpu backends check what they allocate; beyond it they are refused with the numbers', parsePositiveInt('--max-memory'));
}

/** The prepare options the flags ask for; --threads and the bf16 store apply to the cpu backend only, and say so otherwise. */
export function cpuPrepareOptions(flags: CpuKernelFlags): PrepareOptions | undefined {
  const cpuOnly = {
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
    ...(flags.weightStore === 'bf16' ? { weightStore: 'bf16' as const } : {}),
  };
  const budget = flags.maxMemory !== undefined ? { maxMemory: flags.maxMemory * 2 ** 20 } : {};
  const store = flags.weightStore === 'q8' ? Q8 : flags.weightStore === 'q4' ? Q4 : undefined;
  if (flags.activations === 'int8' && !store) throw new ModelInputError(`--activations int8 rounds the inputs of quantized products: give --weight-store q8 or q4 with it`);
  const quantized = store ? { weightStore: flags.activations === 'int8' ? { ...store, activations: 'int8' as const } : flags.weightStore! } : {};
  if (Object.keys(cpuOnly).length > 0 && flags.backend !== 'cpu') throw new ModelInputError(`--threads and --weight-store bf16 apply to the cpu backend, not to ${flags.backend}`);
  // --threads and LOOM_CPU_THREADS now, not after the weights are read (the backend checks again at prepare)
  if (flags.backend === 'cpu') resolveThreads(flags.threads, process.env['LOOM_CPU_THREADS'], availableParallelism());
  const given: PrepareOptions = { ...(Object.keys(cpuOnly).length > 0 ? { cpu: cpuOnly } : {}), ...budget, ...quantized };
  return Object.keys(given).length > 0 ? given : undefined;
}

/** --max-memory in bytes, or the default budget (three quarters of the machine's memory). */
export function maxMemoryBytes(flags: { maxMemory?: number }): number {
  return weightsBudget(flags.maxMemory !== undefined ? flags.maxMemory * 2 ** 20 : undefined).maxBytes;
}

/** `--max-memory <MiB>` for commands that build a model but do not run it on a backend (compile, export, inspect). */
export function addMaxMemoryOption(command: Command): Command {
  return command.option('--max-memory <MiB>', "memory the model's weights may take (default: 3/4 of the machine); a config over it is refused, with the numbers, before its graph is built", parsePositiveInt('--max-memory'));
}

/** `--beams <k>`: a positive integer, at most MAX_BEAMS. */
export function parseBeams(value: string): number {
  const beams = parsePositiveInt('--beams')(value);
  if (beams > MAX_BEAMS) throw new InvalidArgumentError(`--beams must be at most ${MAX_BEAMS} (${BEAMS_WHY}), got ${value.trim().slice(0, 20)}.`);
  return beams;
}

export function parseNonNegativeInt(what: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`${what} must be a non-negative integer.`);
    return Number(value);
  };
}

/** A TCP port, 0 (any free one) to 65535. */
export function parsePort(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) > 65535) throw new InvalidArgumentError('--port must be an integer from 0 to 65535.');
  return Number(value);
}

export function parsePositiveInt(what: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim()) || Number(value) < 1) throw new InvalidArgumentError(`${what} must be a positive integer.`);
    return Number(value);
  };
}

/** A decimal number as people write it (no hex, binary or octal, which Number() would also accept). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function parseNumber(what: string, ok: (x: number) => boolean, rule: string) {
  return (value: string): number => {
    const x = Number(value);
    if (!DECIMAL.test(value.trim()) || !Number.isFinite(x) || !ok(x)) throw new InvalidArgumentError(`${what} must be ${rule} (a decimal number), got '${value}'.`);
    return x;
  };
}

/** A sampler seed: 0 to 2^32 - 1 (the generator's state is 32 bits: a larger seed would wrap and repeat another). */
export function parseSeed(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) > 2 ** 32 - 1) throw new InvalidArgumentError(`--seed must be an integer from 0 to 4294967295, got '${value}'.`);
  return Number(value);
}

/** `6601,32704,795` -> [6601, 32704, 795] (whitespace allowed). */
export function parseIdList(value: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) {
    throw new InvalidArgumentError('ids must be non-negative integers separated by commas, e.g. 6601,32704,795.');
  }
  return parts.map(Number);
}

/**
 * A batch of rows of integers, rows separated by ';' and integers by ',' ("1,5,9;1,7,0"); `signed`
 * admits negative ones (labels' -100). Rows must be of one length (a batch is a rectangle).
 */
export function parseIdRows(what: string, signed: boolean) {
  return (value: string): number[][] => {
    const rows = value.split(';').map((row) => row.split(',').map((p) => p.trim()));
    const integer = signed ? /^-?\d+$/ : /^\d+$/;
    rows.forEach((row, r) => {
      const bad = row.find((p) => !integer.test(p) || !Number.isSafeInteger(Number(p)));
      if (bad !== undefined) throw new InvalidArgumentError(`row ${r + 1}: '${bad.slice(0, 20)}' is not ${signed ? 'an integer' : 'a non-negative integer'}; ${what} are integers separated by commas, rows by ';', e.g. ${signed ? '5,9,-100;7,-100,-100' : '1,5,9;1,7,0'}.`);
    });
    const width = rows[0]!.length;
    const ragged = rows.findIndex((row) => row.length !== width);
    if (ragged >= 0) throw new InvalidArgumentError(`row ${ragged + 1} has ${rows[ragged]!.length} values, row 1 has ${width}: the rows of a batch must be of one length (pad short rows${signed ? ' with -100' : ''}).`);
    return rows.map((row) => row.map(Number));
  };
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

import { formatBytes, verify, verifySizeLimits, type RunResult } from '@loom/backends';
import { expandOps, graphParams, LoomError, MAX_TENSOR_ELEMENTS, parseDim, type Graph, type Shape } from '@loom/graph';
import { Command, InvalidArgumentError } from 'commander';
import { BACKEND_NAMES } from '@loom/backends';
import { resolveModelArgument } from '../../io/model-argument.ts';
import { NO_PROGRESS } from '../progress.ts';
import { quietIo } from '../io.ts';
import { PRESETS } from '../../presets.ts';
import { parseNonNegativeInt, parsePositiveInt } from '../options.ts';
import type { CliIo } from '../io.ts';

interface VerifyOpts {
  backends: string[];
  runs: number;
  seed: number;
  maxSeq: number;
  maxMemory: number;
  timeout?: number;
  quiet?: boolean;
}

/** Bounds that keep one `loom verify` inside minutes and memory: more is a typo, not a wish. */
const MAX_RUNS = 10_000;
const MAX_SEQ = 4096;

function bounded(what: string, limit: number) {
  const parse = parsePositiveInt(what);
  return (value: string): number => {
    const n = parse(value);
    if (n > limit) throw new InvalidArgumentError(`${what} must be at most ${limit}, got ${value}.`);
    return n;
  };
}

/** Bytes per parameter of the random weights verify draws: float64 for the reference, a float32 copy for the backends. */
const BYTES_PER_PARAM = 12;

/** Bytes of the random weights verify draws for a graph. */
function weightBytes(graph: Graph): number {
  let elements = 0;
  for (const node of graphParams(graph)) elements += node.type.shape.reduce<number>((n, d) => n * (typeof d === 'number' ? d : 1), 1);
  return elements * BYTES_PER_PARAM;
}

/**
 * Bytes fast-check holds per element of an input it draws, until the run ends: each element is a
 * value it can shrink (measured: a float array of 10^6 elements needs 160 to 200 MB of heap).
 */
const DRAW_BYTES_PER_ELEMENT = 200;

/**
 * Refuses, before anything is drawn, a verify whose run at the largest sizes it may draw (each
 * symbol at verifySizeLimits: --max-seq, or a position table's rows) would not fit: a tensor the
 * float64 reference cannot hold (more than MAX_TENSOR_ELEMENTS), or the drawn inputs, every value
 * the reference keeps (it keeps each node's: 8 bytes an element for f32, 4 for i32) and the random
 * weights together above --max-memory. Every size is a product of symbols, so no run holds more.
 */
function checkRunFits(graph: Graph, maxSeq: number, maxMemory: number, weights: number): void {
  const limits = verifySizeLimits(graph, maxSeq);
  const at = limits.size > 0 ? `at ${[...limits].map(([s, n]) => `${s} = ${n}`).join(', ')} (the largest sizes --max-seq ${maxSeq} draws) ` : '';
  // an unbound symbol (only a product of symbols names it) counts at --max-seq
  const size = (shape: Shape) => shape.reduce<number>((n, d) => n * parseDim(d).symbols.reduce((f, sym) => f * (limits.get(sym) ?? maxSeq), parseDim(d).factor), 1);
  let reference = 0;
  let drawn = 0;
  let largest = { bytes: -1, what: '' };
  // the interpreter runs the graph with its composite ops expanded: its node ids are that graph's
  for (const node of expandOps(graph).nodes) {
    if (node.op === 'param') continue; // the weights, counted on their own
    const elements = size(node.type.shape);
    const name = typeof node.attrs['name'] === 'string' ? ` '${node.attrs['name']}'` : '';
    const what = () => `node %${node.id} ${node.op}${name} ${node.type.dtype}[${node.type.shape.map((d) => (typeof d === 'number' ? d : size([d]))).join(', ')}]`;
    if (elements > MAX_TENSOR_ELEMENTS) {
      const count = Number.isSafeInteger(elements) ? String(elements) : `more than ${Number.MAX_SAFE_INTEGER}`;
      const wayOut = node.type.shape.every((d) => typeof d === 'number') ? "its shape is static: check the graph's shapes" : 'use a smaller --max-seq';
      throw new LoomError('memory-budget', `verify: ${at}${what()} would have ${count} elements, more than the ${MAX_TENSOR_ELEMENTS} one tensor of the float64 reference may hold; ${wayOut}`);
    }
    const bytes = elements * (node.type.dtype === 'f32' ? 8 : 4);
    reference += bytes;
    if (bytes > largest.bytes) largest = { bytes, what: what() };
    if (node.op === 'input') drawn += elements * DRAW_BYTES_PER_ELEMENT;
  }
  const total = reference + drawn + weights;
  if (total > maxMemory * 2 ** 20) {
    throw new LoomError(
      'memory-budget',
      `verify: ${at}a run would hold ${formatBytes(total)}: the float64 reference ${formatBytes(reference)} (the largest: ${largest.what}), the drawn inputs ${formatBytes(drawn)}, the random weights ${formatBytes(weights)}; above --max-memory ${maxMemory} MiB; ${limits.size === 0 ? "raise --max-memory, or check the graph's shapes" : weights < reference + drawn ? 'use a smaller --max-seq (or raise --max-memory)' : 'raise --max-memory (or use a smaller --max-seq)'}`,
    );
  }
}

function parseBackends(value: string): string[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(BACKEND_NAMES as readonly string[]).includes(n));
  if (names.length === 0 || unknown.length > 0) throw new InvalidArgumentError(`unknown backend(s) ${unknown.join(', ')}; choose from ${BACKEND_NAMES.join(', ')}.`);
  return names;
}

/** `loom verify MODEL --backends cpu,webgpu --runs N`: property-based agreement with the float64 reference. */
export function verifyCommand(io: CliIo): Command {
  return new Command('verify')
    .description('check that backends compute a model like the float64 reference on random inputs and weights; prints a shrunk counterexample on disagreement')
    .argument('<model>', `a preset (${Object.keys(PRESETS).join(', ')}), a Loom graph JSON file, or a Hugging Face config.json`)
    .option('--backends <list>', 'comma-separated backends to check', parseBackends, ['cpu'])
    .option('--runs <n>', `random input sets (at most ${MAX_RUNS})`, bounded('--runs', MAX_RUNS), 5)
    .option('--seed <s>', 'seed for weights and inputs', parseNonNegativeInt('--seed'), 42)
    .option('--max-seq <n>', `largest sequence length (and other symbolic size) tried (at most ${MAX_SEQ})`, bounded('--max-seq', MAX_SEQ), 8)
    .option('--max-memory <MiB>', 'memory a run may take (random weights, drawn inputs, the float64 reference at the largest sizes drawn), in MiB', parsePositiveInt('--max-memory'), 4096)
    .option('--timeout <seconds>', 'start no run after this many seconds; says how many ran', parsePositiveInt('--timeout'))
    .option('--quiet', 'no progress bar and no line per run: only the summary')
    .action(async (model: string, opts: VerifyOpts) => {
      const runIo = quietIo(io, opts.quiet);
      // a config's sizes are checked before its graph is built; a preset's or a graph JSON's weights here
      const budget = { maxBytes: opts.maxMemory * 2 ** 20, bytesPerParam: BYTES_PER_PARAM, what: 'random weights (float64 for the reference, float32 for the backends)', option: `--max-memory ${opts.maxMemory} MiB` };
      const { graph } = resolveModelArgument(model, budget);
      const need = weightBytes(graph);
      if (need > opts.maxMemory * 2 ** 20) {
        throw new LoomError('memory-budget', `verify: the model's random weights would take ${(need / 2 ** 20).toFixed(0)} MiB, above --max-memory ${opts.maxMemory} MiB; check the config's sizes (or raise --max-memory)`);
      }
      checkRunFits(graph, opts.maxSeq, opts.maxMemory, need);
      const bar = runIo.bar?.('verify', opts.runs) ?? NO_PROGRESS;
      let report;
      try {
        report = await verify(graph, {
          backends: opts.backends,
          runs: opts.runs,
          seed: opts.seed,
          maxDim: opts.maxSeq,
          ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout * 1000 } : {}),
          onRun: (done, total) => bar.update(Math.min(done, total), done < total ? `run ${done + 1}` : 'shrinking'),
          // each run's result as it finishes: one line per run, the bar redrawn below it
          ...(opts.quiet ? {} : { onResult: (run: number, r: RunResult) => bar.interrupt(() => io.out(`run ${run + 1}: ${formatShapes(r.shapes)}: ${r.agreements.map((a) => `${a.backend} ${a.maxAbsError.toExponential(2)}`).join(', ')}\n`)) }),
        });
      } finally {
        bar.stop();
      }
      for (const a of report.agreements) io.out(`${a.backend}: max |error| ${a.maxAbsError.toExponential(2)} over ${report.runs} runs\n`);
      if (!report.ok) {
        const c = report.counterexample!;
        const inputs = Object.entries(c.inputs).map(([name, v]) => `  ${name} [${v.shape.join(', ')}] = ${JSON.stringify(v.values.length > 64 ? [...v.values.slice(0, 64), '...'] : v.values)}`);
        io.out(`shrunk counterexample (seed ${report.seed}):\n${inputs.join('\n')}\n`);
        throw new LoomError('verify', `${c.backend} disagrees with the reference on '${c.output}' (${c.detail})`);
      }
      const stopped = report.interrupted ? ` (stopped by --timeout ${opts.timeout} s after ${report.runs} of ${opts.runs} runs)` : '';
      io.out(`ok: ${opts.backends.join(', ')} agree with the float64 reference${stopped}\n`);
    });
}

/** "ids [2, 3], mask [2, 3]": a run's input shapes. */
function formatShapes(shapes: Readonly<Record<string, readonly number[]>>): string {
  return Object.entries(shapes).map(([name, shape]) => `${name} [${shape.join(', ')}]`).join(', ');
}

import { compileWithReport, defaultPipeline, formatTrace, printPlan } from '@loom/compiler';
import { LoomError } from '@loom/graph';
import { trainingCosts, formatTrainingCosts } from '../../training/training-costs.ts';
import { Argument, Command } from 'commander';
import { resolveModelArgument } from '../../io/model-argument.ts';
import { PRESETS } from '../../presets.ts';
import { weightsBudget } from '../../io/model-budget.ts';
import { addMaxMemoryOption, maxMemoryBytes, parsePositiveInt } from '../options.ts';
import { quietIo, type CliIo } from '../io.ts';
import { NO_PROGRESS } from '../progress.ts';

interface CompileOpts {
  dumpAfter?: string;
  report?: boolean;
  plan?: boolean;
  batch: number;
  seq: number;
  quiet?: boolean;
  maxMemory?: number;
  train?: boolean;
}

/**
 * `loom compile MODEL`: run the compiler on a preset, a graph JSON or a Hugging Face config.json;
 * dump the IR after passes, print the plan or a JSON report. --batch and --seq bind the symbols
 * (batch; seq, src_seq and tgt_seq) for the schedule and the byte counts.
 */
export function compileCommand(io: CliIo): Command {
  const passNames = defaultPipeline.map((p) => p.name);
  return addMaxMemoryOption(new Command('compile'))
    .description('compile a model (a preset, a graph JSON, or a Hugging Face config.json) to a plan: --dump-after shows the IR after passes, --report prints JSON stats')
    .addArgument(new Argument('<model>', `a preset (${Object.keys(PRESETS).join(', ')}), a Loom graph JSON file, or a Hugging Face config.json`))
    .option('--dump-after <pass>', `print the graph after this pass, or 'all' (passes: ${[...new Set(passNames)].join(', ')})`)
    .option('--report', 'print a JSON report: nodes before/after, kernels, planned and naive peak bytes, compile time')
    .option('--plan', 'print the plan: buffers and kernels')
    .option('--batch <n>', "the 'batch' symbol's value for scheduling and byte counts", parsePositiveInt('--batch'), 1)
    .option('--seq <n>', "the sequence symbols' value ('seq', 'src_seq', 'tgt_seq') for scheduling and byte counts", parsePositiveInt('--seq'), 128)
    .option('--train', "also compile a training step (cross-entropy on 'logits', backward, AdamW) and report its kernels and memory beside inference's, with and without recomputing each block's activations")
    .option('--quiet', 'no progress bar over the passes')
    .action((model: string, opts: CompileOpts) => {
      if (opts.dumpAfter !== undefined && opts.dumpAfter !== 'all' && !passNames.includes(opts.dumpAfter)) {
        throw new LoomError('cli', `unknown pass '${opts.dumpAfter}' for --dump-after; passes: ${[...new Set(passNames)].join(', ')}, or all`);
      }
      const { graph, kind } = resolveModelArgument(model, weightsBudget(maxMemoryBytes(opts)));
      const symbols = { batch: opts.batch, seq: opts.seq, src_seq: opts.seq, tgt_seq: opts.seq };
      const bar = quietIo(io, opts.quiet).bar?.('compile', defaultPipeline.length) ?? NO_PROGRESS;
      let passes = 0;
      let result;
      try {
        result = compileWithReport(graph, { bindings: symbols, ...(opts.dumpAfter ? { dumpAfter: opts.dumpAfter } : {}), onPass: (pass) => bar.update(++passes, pass.name) });
      } finally {
        bar.stop();
      }
      for (const entry of result.trace) if (entry.dump !== undefined) io.out(`; after ${entry.name} (${entry.nodesAfter} nodes)\n${entry.dump}\n`);
      const s = result.plan.stats;
      const training = opts.train ? trainingCosts(graph, symbols) : undefined;
      if (opts.report) {
        const report = {
          model,
          kind,
          ...(kind === 'preset' ? { preset: model } : {}),
          nodesBefore: s.nodesBefore,
          nodesAfter: s.nodesAfter,
          kernels: s.kernels,
          plannedPeakBytes: s.plannedBytes,
          naivePeakBytes: s.naiveBytes,
          scheduledLivePeakBytes: result.scheduledPeakBytes,
          graphOrderLivePeakBytes: result.graphOrderPeakBytes,
          compileMs: Math.round(result.compileMs * 10) / 10,
          bindings: s.bindings,
          passes: result.trace.map((t) => ({ name: t.name, nodesBefore: t.nodesBefore, nodesAfter: t.nodesAfter, ms: Math.round(t.ms * 100) / 100 })),
          ...(training ? { training } : {}),
        };
        io.out(`${JSON.stringify(report, null, 2)}\n`);
      } else if (opts.plan) io.out(`${printPlan(result.plan)}\n`);
      else if (opts.dumpAfter === undefined) io.out(`${formatTrace(result.trace)}\n${s.kernels} kernels, ${s.plannedBytes} bytes planned (naive ${s.naiveBytes}), ${result.compileMs.toFixed(0)} ms\n`);
      if (training && !opts.report) io.out(formatTrainingCosts(training, { kernels: s.kernels, plannedBytes: s.plannedBytes }));
    });
}

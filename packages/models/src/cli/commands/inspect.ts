import { Command } from 'commander';
import { loadInspectModel } from '../../inspect/inspect-model.ts';
import { startInspectServer } from '../../inspect/inspect-server.ts';
import { SHIPPED_WEIGHTS_DIR } from '../../reverse/load-reverse.ts';
import { addMaxMemoryOption, maxMemoryBytes, parseNonNegativeInt, parsePort } from '../options.ts';
import type { CliIo } from '../io.ts';

interface InspectOpts {
  weights?: string;
  config?: string;
  port?: number;
  open: boolean;
  seed: number;
  maxMemory?: number;
}

/**
 * `loom inspect [MODEL | --weights W --config C]`: a local web page (127.0.0.1) showing the model's
 * graph through the compiler's passes, its plan and memory, and its attention on a prompt. Runs
 * until interrupted (Ctrl-C). Without --weights the weights are seeded random ones, and the page says
 * so; with no model at all, the shipped reversing Transformer (trained in Loom), whose
 * cross-attention a learner can read.
 */
export function inspectCommand(io: CliIo, until: () => Promise<void> = interrupted): Command {
  return addMaxMemoryOption(new Command('inspect'))
    .description('open a local web page that shows the model: its graph through the passes, its plan and memory, attention on a prompt')
    .argument('[model]', 'a preset, a Loom graph JSON or a config.json (or give --weights W --config C; none: the shipped reversing model)')
    .option('--weights <file>', 'weights (.safetensors); without them, seeded random weights')
    .option('--config <file>', "a Hugging Face config.json or the reverse model's reverse.json")
    .option('--port <n>', 'the port on 127.0.0.1 (default: a free one)', parsePort)
    .option('--no-open', 'do not open a browser')
    .option('--seed <s>', 'seed of the random weights', parseNonNegativeInt('--seed'), 0)
    .action(async (model: string | undefined, opts: InspectOpts) => {
      // nothing named: the shipped reversing model (trained in Loom)
      const shipped = model === undefined && opts.weights === undefined && opts.config === undefined;
      const weights = shipped ? `${SHIPPED_WEIGHTS_DIR}reverse-transformer.safetensors` : opts.weights;
      const config = shipped ? `${SHIPPED_WEIGHTS_DIR}reverse.json` : opts.config;
      const inspected = loadInspectModel({ ...(model !== undefined ? { model } : {}), ...(weights ? { weights } : {}), ...(config ? { config } : {}), seed: opts.seed, maxMemory: maxMemoryBytes(opts) });
      const server = await startInspectServer(inspected, opts.port !== undefined ? { port: opts.port } : {});
      // the shipped model is for learning: the browser opens on the walkthrough
      const page = shipped ? `${server.url}#learn` : server.url;
      io.out(`loom inspect: ${inspected.title} at ${server.url}${shipped ? ` (the walkthrough: ${page})` : ''} (Ctrl-C to stop)\n`);
      for (const why of Object.values(server.unavailable)) io.err(`loom inspect: ${why}\n`);
      if (opts.open) {
        const { default: open } = await import('open');
        await open(page).catch((e: unknown) => io.err(`could not open a browser (${(e as Error).message}); open ${page} yourself\n`));
      }
      await until();
      await server.close();
    });
}

function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

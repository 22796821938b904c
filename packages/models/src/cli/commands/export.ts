import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '@loom/graph/node';
import { exportOnnx } from '@loom/compiler';
import { Command, Option } from 'commander';
import { FileError, ModelInputError } from '../../errors.ts';
import { modelGraph, modelWithWeights } from '../../io/model-with-weights.ts';
import { emitTsModule } from '../../export/ts-module.ts';
import { checkOutputPath } from '../../io/output-file.ts';
import { parseNonNegativeInt } from '../options.ts';
import type { CliIo } from '../io.ts';

interface ExportOpts {
  format: string;
  out: string;
  weights?: string;
  config?: string;
  randomWeights?: boolean;
  seed: number;
  force?: boolean;
}

/** Writes the files atomically, each in turn (an ONNX model's data file before the model that names it). */
async function writeFiles(files: readonly [string, Uint8Array][]): Promise<void> {
  for (const [path, bytes] of files) {
    try {
      await writeFileAtomic(path, bytes);
    } catch (e) {
      throw new FileError(`cannot write '${path}': ${(e as Error).message}`);
    }
  }
}

/**
 * `loom export --format onnx --out model.onnx MODEL | --weights W --config C`: the model's
 * full-sequence graph as a standard ONNX model (opset 20, symbolic dims as dim_param, weights as
 * initializers, or `model.onnx.data` beside it above 2 GiB), for onnxruntime and the servers built
 * on it. Weights come from --weights; random ones only with --random-weights.
 * `--format ts --out model.ts`: the cpu plan as a standalone TypeScript module (export/ts-module.ts);
 * it takes the weights at run time, so none are read here.
 */
export function exportCommand(io: CliIo): Command {
  return new Command('export')
    .description('export a model: a standard ONNX file (opset 20) for serving engines (onnxruntime, Triton), or a standalone TypeScript module of its cpu plan')
    .argument('[model]', 'a preset, a Loom graph JSON or a config.json (or give --weights W --config C)')
    .addOption(new Option('--format <format>', 'onnx (a model file with its weights) or ts (a TypeScript module; weights given to its run())').choices(['onnx', 'ts']).makeOptionMandatory())
    .requiredOption('--out <file>', 'where to write the model (written atomically, never over an input)')
    .option('--weights <file>', 'weights (.safetensors): a Hugging Face checkpoint with --config, else Loom-named tensors')
    .option('--config <file>', 'a Hugging Face config.json (gpt2, llama, mistral, qwen2, marian) or the reverse model\'s reverse.json')
    .option('--random-weights', 'seeded random weights instead of a checkpoint')
    .option('--seed <s>', 'seed of --random-weights', parseNonNegativeInt('--seed'), 0)
    .option('--force', 'replace --out if it exists')
    .action(async (model: string | undefined, opts: ExportOpts) => {
      if (opts.weights && opts.randomWeights) throw new ModelInputError('give --weights or --random-weights, not both');
      const inputs = [opts.weights, opts.config, model].filter((p): p is string => p !== undefined).map((path) => ({ path, option: 'input' }));
      checkOutputPath(opts.out, inputs, Boolean(opts.force));
      if (opts.format === 'ts') {
        if (opts.weights || opts.randomWeights) throw new ModelInputError('--format ts writes code, not weights: the module takes them in run(inputs, weights); drop --weights / --random-weights');
        const { graph, kind } = modelGraph({ ...(model !== undefined ? { model } : {}), ...(opts.config ? { config: opts.config } : {}) });
        const text = await emitTsModule(graph, { title: `${kind} (${model ?? opts.config})` });
        await writeFiles([[opts.out, new TextEncoder().encode(text)]]);
        io.out(`wrote ${opts.out} (${kind}, ${text.split('\n').length} lines): run(inputs, weights) on the cpu runtime of @loom/backends/aot\n`);
        return;
      }
      const { graph, weights, kind } = modelWithWeights({ ...(model !== undefined ? { model } : {}), ...(opts.weights ? { weights: opts.weights } : {}), ...(opts.config ? { config: opts.config } : {}), randomWeights: Boolean(opts.randomWeights), seed: opts.seed });
      const dataName = `${basename(opts.out)}.data`;
      const { model: bytes, externalData } = exportOnnx(graph, weights, { externalName: dataName });
      const files: [string, Uint8Array][] = [];
      if (externalData) {
        const dataPath = join(dirname(opts.out), dataName);
        checkOutputPath(dataPath, inputs, Boolean(opts.force));
        files.push([dataPath, externalData]);
      }
      files.push([opts.out, bytes]);
      await writeFiles(files);
      const inputsText = graph.nodes.filter((n) => n.op === 'input').map((n) => `${String(n.attrs['name'])} ${n.type.dtype}[${n.type.shape.join(', ')}]`);
      io.out(`wrote ${opts.out} (${kind}, ${(bytes.length / 2 ** 20).toFixed(1)} MiB${externalData ? ` + ${dataName} ${(externalData.length / 2 ** 20).toFixed(1)} MiB` : ''}): inputs ${inputsText.join(', ')}; outputs ${graph.outputs.map((o) => o.name).join(', ')}\n`);
    });
}

import { unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { exportOnnx, onnxDataIsExternal, onnxWeightBytes, type EncodedModel } from '@loom/compiler';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ModelInputError } from '../../errors.ts';
import { otherConfigFiles, supportedModelTypes } from '../../families/registry.ts';
import { modelGraph, withWeights } from '../../io/model-with-weights.ts';
import { emitTsModule } from '../../export/ts-module.ts';
import { checkOutputPath, writeOutputFile } from '../../io/output-file.ts';
import { addMaxMemoryOption, maxMemoryBytes, parseNonNegativeInt, parsePositiveInt } from '../options.ts';
import type { CliIo } from '../io.ts';

interface ExportOpts {
  format: string;
  out: string;
  weights?: string;
  config?: string;
  randomWeights?: boolean;
  seed: number;
  force?: boolean;
  target: 'cpu' | 'webgpu';
  batch?: number;
  seq?: number;
  bind?: Record<string, number>;
  maxMemory?: number;
}

/** `--bind name=N,name=N`: symbol values. */
function parseBindings(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z_]\w*)\s*=\s*(\d+)\s*$/.exec(part);
    if (!m || Number(m[2]) < 1) throw new InvalidArgumentError(`'${part}' is not name=N with N a positive integer`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** How messages name the ONNX external data file beside --out. */
const dataFileLabel = (dataPath: string) => `the ONNX data file '${dataPath}'`;

/**
 * Writes an ONNX model: its external data file first (streamed tensor by tensor), then the model
 * that names it. Without --force a model that cannot be published takes its new data file with it.
 */
async function writeOnnxFiles(out: string, dataPath: string, encoded: EncodedModel, inputs: readonly { path: string; option: string }[], force: boolean): Promise<void> {
  if (!encoded.externalData) return writeOutputFile(out, encoded.model, force);
  checkOutputPath(dataPath, inputs, force, { label: dataFileLabel(dataPath) });
  await writeOutputFile(dataPath, encoded.externalData.chunks(), force);
  try {
    await writeOutputFile(out, encoded.model, force);
  } catch (e) {
    if (!force) await unlink(dataPath).catch(() => undefined);
    throw e;
  }
}

/**
 * `loom export --format onnx --out model.onnx MODEL | --weights W --config C`: the model's
 * full-sequence graph as a standard ONNX model (opset 20, symbolic dims as dim_param, weights as
 * initializers, or `model.onnx.data` beside it above 2 GiB, written tensor by tensor), for onnxruntime and the servers built
 * on it. Weights come from --weights; random ones only with --random-weights.
 * `--format ts --out model.ts`: the cpu plan as a standalone TypeScript module (export/ts-module.ts);
 * `--target webgpu` its WGSL kernels and dispatch list instead, rendered for the sizes that --batch,
 * --seq (seq, src_seq, tgt_seq) and --bind give. It takes the weights at run time, so none are read here.
 */
export function exportCommand(io: CliIo): Command {
  return addMaxMemoryOption(new Command('export'))
    .description('export a model: a standard ONNX file (opset 20) for serving engines (onnxruntime, Triton), or a standalone TypeScript module of its cpu or WebGPU plan')
    .argument('[model]', 'a preset, a Loom graph JSON or a config.json (or give --weights W --config C)')
    .addOption(new Option('--format <format>', 'onnx (a model file with its weights) or ts (a TypeScript module; weights given to its run())').choices(['onnx', 'ts']).makeOptionMandatory())
    .requiredOption('--out <file>', 'where to write the model (written atomically, never over an input)')
    .option('--weights <file>', 'weights (.safetensors): a Hugging Face checkpoint with --config, else Loom-named tensors')
    .option('--config <file>', `a Hugging Face config.json (${supportedModelTypes().join(', ')})${otherConfigFiles().map((f) => ` or ${f}`).join('')}`)
    .option('--random-weights', 'seeded random weights instead of a checkpoint')
    .option('--seed <s>', 'seed of --random-weights', parseNonNegativeInt('--seed'), 0)
    .addOption(new Option('--target <target>', 'with --format ts: the cpu runtime, or WebGPU (WGSL kernels and a dispatch list for fixed sizes)').choices(['cpu', 'webgpu']).default('cpu'))
    .option('--batch <n>', "--target webgpu: the 'batch' symbol's value", parsePositiveInt('--batch'))
    .option('--seq <n>', "--target webgpu: the sequence symbols' value ('seq', 'src_seq', 'tgt_seq')", parsePositiveInt('--seq'))
    .option('--bind <name=N,...>', '--target webgpu: values of any symbols (over --batch and --seq)', parseBindings)
    .option('--force', 'replace --out if it exists')
    .action(async (model: string | undefined, opts: ExportOpts) => {
      if (opts.weights && opts.randomWeights) throw new ModelInputError('give --weights or --random-weights, not both');
      const inputs = [opts.weights, opts.config, model].filter((p): p is string => p !== undefined).map((path) => ({ path, option: 'input' }));
      checkOutputPath(opts.out, inputs, Boolean(opts.force));
      const sizes = opts.batch !== undefined || opts.seq !== undefined || opts.bind !== undefined;
      if (opts.format === 'ts') {
        if (opts.weights || opts.randomWeights) throw new ModelInputError('--format ts writes code, not weights: the module takes them in run(inputs, weights); drop --weights / --random-weights');
        if (opts.target === 'cpu' && sizes) throw new ModelInputError('--batch, --seq and --bind are for --target webgpu: the cpu target binds the sizes at run time');
        const { graph, kind } = modelGraph({ ...(model !== undefined ? { model } : {}), ...(opts.config ? { config: opts.config } : {}), maxMemory: maxMemoryBytes(opts) });
        const symbols: Record<string, number> = {};
        if (opts.batch !== undefined) symbols['batch'] = opts.batch;
        if (opts.seq !== undefined) for (const name of ['seq', 'src_seq', 'tgt_seq']) symbols[name] = opts.seq;
        Object.assign(symbols, opts.bind);
        const text = await emitTsModule(graph, { title: `${kind} (${model ?? opts.config})`, target: opts.target, symbols });
        await writeOutputFile(opts.out, new TextEncoder().encode(text), Boolean(opts.force));
        const runtime = opts.target === 'webgpu' ? 'WebGPU through @loom/backends/aot-webgpu' : 'the cpu runtime of @loom/backends/aot';
        io.out(`wrote ${opts.out} (${kind}, ${text.split('\n').length} lines): run(inputs, weights) on ${runtime}\n`);
        return;
      }
      if (opts.target !== 'cpu' || sizes) throw new ModelInputError('--target, --batch, --seq and --bind are for --format ts; an ONNX model keeps its symbolic sizes');
      const source = { ...(model !== undefined ? { model } : {}), ...(opts.weights ? { weights: opts.weights } : {}), ...(opts.config ? { config: opts.config } : {}), randomWeights: Boolean(opts.randomWeights), seed: opts.seed, maxMemory: maxMemoryBytes(opts) };
      const dataName = `${basename(opts.out)}.data`;
      const dataPath = join(dirname(opts.out), dataName);
      const withGraph = modelGraph(source);
      // the data file exists only when the weights go past what the model keeps inside; that is known
      // from their sizes, so an existing one is refused before any weight is read or drawn
      if (onnxDataIsExternal(withGraph.graph)) {
        const why = `and would be replaced: the weights (${(onnxWeightBytes(withGraph.graph) / 2 ** 20).toFixed(0)} MiB) are too large for the model file itself (one protobuf message holds at most 2 GiB), so they go there`;
        checkOutputPath(dataPath, inputs, Boolean(opts.force), { label: dataFileLabel(dataPath), why });
      }
      const { graph, weights, kind } = withWeights(withGraph, source);
      const encoded = exportOnnx(graph, weights, { externalName: dataName });
      await writeOnnxFiles(opts.out, dataPath, encoded, inputs, Boolean(opts.force));
      const { model: bytes, externalData } = encoded;
      const inputsText = graph.nodes.filter((n) => n.op === 'input').map((n) => `${String(n.attrs['name'])} ${n.type.dtype}[${n.type.shape.join(', ')}]`);
      io.out(`wrote ${opts.out} (${kind}, ${(bytes.length / 2 ** 20).toFixed(1)} MiB${externalData ? ` + ${dataName} ${(externalData.byteLength / 2 ** 20).toFixed(1)} MiB` : ''}): inputs ${inputsText.join(', ')}; outputs ${graph.outputs.map((o) => o.name).join(', ')}\n`);
    });
}

import { Command } from 'commander';
import { writeSafetensors, type NDArray } from '@loom/graph';
import { ConfigError, ModelInputError } from '../../errors.ts';
import { familyOf, findFamily, parseChecked } from '../../families/registry.ts';
import { readCheckpoint, readUserJson } from '../../files.ts';
import { CAUSAL_LM_TYPES } from '../../io/load-causal-lm.ts';
import { weightsBudget } from '../../io/model-budget.ts';
import { checkOutputPath, writeOutputFile } from '../../io/output-file.ts';
import { checkpointGradients, IGNORE_LABEL } from '../../training/checkpoint-gradients.ts';
import { quietIo, weightsProgress, type CliIo } from '../io.ts';
import { addCpuKernelOptions, backendOption, commandBackend, maxMemoryBytes, parseIdRows, type CpuKernelFlags } from '../options.ts';

/**
 * `loom grad`: the loss of a causal LM on a labelled batch and its gradient with respect to every
 * weight, written as float32 safetensors under the checkpoint's own names (`loss` [1] and
 * `grad.<name>`), to compare with what another framework computes.
 */
export function gradCommand(io: CliIo): Command {
  return addCpuKernelOptions(new Command('grad'))
    .description(`the mean cross-entropy of a causal LM (config.json model_type ${CAUSAL_LM_TYPES.join(', ')}) on a batch and its gradient with respect to every weight, written as float32 safetensors: 'loss' and 'grad.<name>' under the checkpoint's own names`)
    .requiredOption('--weights <file>', 'Hugging Face weights (.safetensors)')
    .requiredOption('--config <file>', 'Hugging Face config.json (its model_type picks the model)')
    .requiredOption('--ids <rows>', "token ids: integers separated by commas, rows of the batch by ';', e.g. '1,5,9;1,7,0'", parseIdRows('ids', false))
    .requiredOption('--labels <rows>', `the id each position predicts, ${IGNORE_LABEL} where none (as PyTorch's ignore_index), shaped as --ids, e.g. '5,9,-100;7,-100,-100'`, parseIdRows('labels', true))
    .requiredOption('--out <file>', 'where to write the loss and gradients (.safetensors); written atomically, never over an input')
    .option('--force', 'replace --out if it exists')
    .option('--quiet', 'no progress bar while the weights load')
    .addOption(backendOption())
    .action(async (opts: CpuKernelFlags & { weights: string; config: string; ids: number[][]; labels: number[][]; out: string; force?: boolean; quiet?: boolean }) => {
      if (opts.weightStore && opts.weightStore !== 'f32') throw new ModelInputError(`--weight-store ${opts.weightStore}: gradients are of the float32 weights; quantized and bfloat16 stores are for running a model`);
      checkOutputPath(opts.out, [{ path: opts.weights, option: '--weights' }, { path: opts.config, option: '--config' }], Boolean(opts.force));
      const batch = { ids: i32Rows(opts.ids, '--ids'), labels: i32Rows(opts.labels, '--labels') };
      if (opts.ids.length !== opts.labels.length || opts.ids[0]!.length !== opts.labels[0]!.length) {
        throw new ModelInputError(`--ids is ${opts.ids.length} rows of ${opts.ids[0]!.length} and --labels ${opts.labels.length} rows of ${opts.labels[0]!.length}: give one label per id`);
      }
      const json = readUserJson(opts.config, 'config');
      if (findFamily(json)?.runs === 'encoder-decoder') throw new ConfigError(`${opts.config}: loom grad takes causal LMs (model_type ${CAUSAL_LM_TYPES.join(', ')}); this is an encoder-decoder`);
      const family = familyOf(json, opts.config, 'causal-lm');
      const config = parseChecked(family, json, opts.config, weightsBudget(maxMemoryBytes(opts)));
      const checkpoint = readCheckpoint(opts.weights, weightsProgress(quietIo(io, opts.quiet)));
      const { loss, gradients } = await checkpointGradients(family, config, checkpoint, batch, await commandBackend(opts));
      const out = new Map<string, NDArray>([['loss', { dtype: 'f32', shape: [1], data: Float32Array.of(loss) }]]);
      for (const [name, g] of gradients) out.set(`grad.${name}`, g);
      await writeOutputFile(opts.out, writeSafetensors(out), Boolean(opts.force));
      io.out(`loss ${loss.toPrecision(8)}; ${gradients.size} gradients written to ${opts.out}\n`);
    });
}

/** The rows as an i32 [rows, width] tensor; a value beyond int32 is refused here rather than wrapped. */
function i32Rows(rows: number[][], option: string): NDArray {
  rows.forEach((row, r) => {
    const i = row.findIndex((v) => v !== (v | 0));
    if (i >= 0) throw new ModelInputError(`${option}: ${row[i]} (row ${r + 1}, position ${i + 1}) is beyond a 32-bit integer`);
  });
  return { dtype: 'i32', shape: [rows.length, rows[0]!.length], data: Int32Array.from(rows.flat()) };
}

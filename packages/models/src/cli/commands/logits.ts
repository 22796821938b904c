import { writeSafetensorsFile } from '@loom/graph/node';
import { Command } from 'commander';
import { FileError } from '../../errors.ts';
import { CAUSAL_LM_TYPES, loadCausalLm } from '../../io/load-causal-lm.ts';
import { checkOutputPath } from '../../io/output-file.ts';
import { addCpuKernelOptions, addNonFiniteOption, backendOption, commandBackend, parseIdList, type CpuKernelFlags } from '../options.ts';
import type { CliIo } from '../io.ts';

/** `loom logits`: one forward pass of a causal LM (GPT-2, the Llama family), written as a float32 `logits` [1, T, V] safetensors file. */
export function logitsCommand(io: CliIo): Command {
  return addNonFiniteOption(addCpuKernelOptions(new Command('logits')))
    .description(`run a causal LM (config.json model_type ${CAUSAL_LM_TYPES.join(', ')}) on token ids and write the logits [1, T, vocab] as float32 safetensors`)
    .requiredOption('--weights <file>', 'Hugging Face weights (.safetensors)')
    .requiredOption('--config <file>', 'Hugging Face config.json (its model_type picks the model)')
    .requiredOption('--ids <list>', 'token ids separated by commas, e.g. 6601,32704,795', parseIdList)
    .requiredOption('--out <file>', 'where to write the logits (.safetensors); written atomically, never over an input')
    .option('--force', 'replace --out if it exists')
    .addOption(backendOption())
    .action(async (opts: CpuKernelFlags & { weights: string; config: string; ids: number[]; out: string; force?: boolean }) => {
      checkOutputPath(opts.out, [{ path: opts.weights, option: '--weights' }, { path: opts.config, option: '--config' }], Boolean(opts.force));
      const model = await loadCausalLm(opts.weights, opts.config, await commandBackend(opts));
      const logits = await model.logits([opts.ids]);
      const f32 = { dtype: 'f32' as const, shape: logits.shape, data: Float32Array.from(logits.data) };
      try {
        await writeSafetensorsFile(opts.out, new Map([['logits', f32]]));
      } catch (e) {
        throw new FileError(`cannot write '${opts.out}': ${(e as Error).message}`);
      }
    });
}

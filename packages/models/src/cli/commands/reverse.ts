import { Command } from 'commander';
import { loadReverseModel } from '../../reverse/load-reverse.ts';
import { addCpuKernelOptions, addNonFiniteOption, backendOption, commandBackend, type CpuKernelFlags } from '../options.ts';
import type { CliIo } from '../io.ts';

/** `loom reverse TEXT...`: the shipped reverse model, greedy decoding, one line per text. */
export function reverseCommand(io: CliIo): Command {
  return addNonFiniteOption(addCpuKernelOptions(new Command('reverse')))
    .description('reverse lowercase strings with the shipped encoder-decoder Transformer (greedy decoding)')
    .argument('<text...>', 'strings of a-z and spaces; the model was trained on 1 to 16 characters, so longer strings are reversed in pieces of 16 (exact: the reversal is the reversed pieces in reverse order)')
    .addOption(backendOption())
    .action(async (texts: string[], opts: CpuKernelFlags) => {
      const model = loadReverseModel(await commandBackend(opts));
      for (const line of await model.reverse(texts)) io.out(`${line}\n`);
    });
}

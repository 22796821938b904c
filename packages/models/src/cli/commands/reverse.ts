import { Command } from 'commander';
import { loadReverseModel } from '../../reverse/load-reverse.ts';
import { addCpuKernelOptions, addNonFiniteOption, backendOption, commandBackend, type CpuKernelFlags } from '../options.ts';
import type { CliIo } from '../io.ts';

/** `loom reverse TEXT...`: the shipped reverse model (or one `loom train reverse` wrote), greedy decoding, one line per text. */
export function reverseCommand(io: CliIo): Command {
  return addNonFiniteOption(addCpuKernelOptions(new Command('reverse')))
    .description('reverse lowercase strings with the shipped encoder-decoder Transformer, or one loom train reverse wrote (greedy decoding)')
    .argument('<text...>', "strings of a-z and spaces; one longer than the model was trained on (reverse.json's trained_max_chars) is reversed in pieces of that length, which is exact (the reversal is the reversed pieces in reverse order)")
    .option('--whole', 'give every string to the model whole, never in pieces, so that the model alone answers (up to its positions: 62 characters)')
    .option('--model <dir>', 'a folder with reverse.json and reverse-transformer.safetensors, as loom train reverse writes (default: the shipped model)')
    .addOption(backendOption())
    .action(async (texts: string[], opts: CpuKernelFlags & { whole?: boolean; model?: string }) => {
      const model = loadReverseModel(await commandBackend(opts), opts.model);
      for (const line of await model.reverse(texts, { whole: Boolean(opts.whole) })) io.out(`${line}\n`);
    });
}

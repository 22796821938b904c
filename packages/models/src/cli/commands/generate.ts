import { Command } from 'commander';
import { generate } from '../../decoding/generate.ts';
import { gpt2Tokenizer } from '../../tokenizers/gpt2-tokenizer.ts';
import { loadGpt2 } from '../../io/load-gpt2.ts';
import { addCpuKernelOptions, addNonFiniteOption, backendOption, collect, commandBackend, parseSeed, type CpuKernelFlags, parseNonNegativeInt, parseNumber, parsePositiveInt } from '../options.ts';
import type { CliIo } from '../io.ts';

interface GenerateOpts extends CpuKernelFlags {
  weights: string;
  config: string;
  prompt: string[];
  maxNewTokens: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed: number;
  backend: string;
  kvCache: boolean;
}

/** `loom generate`: GPT-2 text generation, greedy or sampled; prints prompt + continuation. */
export function generateCommand(io: CliIo): Command {
  return addNonFiniteOption(addCpuKernelOptions(new Command('generate')))
    .description('continue prompts with a GPT-2 checkpoint (greedy unless --temperature/--top-k/--top-p)')
    .requiredOption('--weights <file>', 'Hugging Face GPT-2 weights (.safetensors)')
    .requiredOption('--config <file>', 'Hugging Face GPT-2 config.json')
    .requiredOption('--prompt <text>', 'text to continue; repeat for a batch', collect)
    .option('--max-new-tokens <n>', 'tokens to generate per prompt', parseNonNegativeInt('--max-new-tokens'), 20)
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', parseNumber('--temperature', (x) => x >= 0, 'a number >= 0'))
    .option('--top-k <k>', 'sample from the k most likely tokens', parsePositiveInt('--top-k'))
    .option('--top-p <p>', 'sample from the smallest set of tokens with probability >= p', parseNumber('--top-p', (x) => x > 0 && x <= 1, 'in (0, 1]'))
    .option('--seed <s>', 'seed of the sampler (0 to 4294967295)', parseSeed, 0)
    .option('--no-kv-cache', 'recompute the whole prefix every step instead of decoding with the KV cache')
    .addOption(backendOption())
    .action(async (opts: GenerateOpts) => {
      const model = await loadGpt2(opts.weights, opts.config, await commandBackend(opts));
      const prompts = opts.prompt.map((p) => gpt2Tokenizer.encode(p));
      const out = await generate(model, prompts, {
        maxNewTokens: opts.maxNewTokens,
        seed: opts.seed,
        kvCache: opts.kvCache,
        ...(opts.temperature !== undefined ? { temperature: opts.temperature } : {}),
        ...(opts.topK !== undefined ? { topK: opts.topK } : {}),
        ...(opts.topP !== undefined ? { topP: opts.topP } : {}),
      });
      for (const ids of out) io.out(`${gpt2Tokenizer.decode(ids)}\n`);
    });
}

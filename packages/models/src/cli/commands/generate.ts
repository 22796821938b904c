import { Command } from 'commander';
import { generate } from '../../decoding/generate.ts';
import { checkTokenizerFitsModel, loadHfTokenizer, tokenizerBeside, type TextTokenizer } from '../../tokenizers/hf-tokenizer.ts';
import { hasGgufTokenizer, tokenizerFromGguf } from '../../gguf/gguf-tokenizer.ts';
import { readGgufHeader } from '../../gguf/read-gguf.ts';
import { ModelInputError } from '../../errors.ts';
import { CAUSAL_LM_TYPES, isGguf, loadCausalLm } from '../../io/load-causal-lm.ts';
import { modelWithWeights } from '../../io/model-with-weights.ts';
import { causalLmFromGraph } from '../../runners/graph-causal-lm.ts';
import type { CausalLm } from '../../decoding/causal-lm.ts';
import type { BuiltinTokenizer } from '../../families/family.ts';
import { MAX_BEAMS } from '../../config/limits.ts';
import { addCpuKernelOptions, addNonFiniteOption, addSamplingOptions, backendOption, collect, commandBackend, maxMemoryBytes, parseBeams, parseIdList, samplingOptions, type CpuKernelFlags, parseNonNegativeInt, parseNumber, type SamplingFlags } from '../options.ts';
import { quietIo, weightsProgress, type CliIo } from '../io.ts';

interface GenerateOpts extends CpuKernelFlags, SamplingFlags {
  weights: string;
  config?: string;
  graph?: string;
  prompt?: string[];
  ids?: number[];
  tokenizer?: string;
  beams?: number;
  lengthPenalty?: number;
  maxNewTokens: number;
  backend: string;
  kvCache: boolean;
  quiet?: boolean;
}

/**
 * Characters at the end of the decoded text that wait for later tokens before they are written:
 * a decoder rewrites the last few characters when a token follows (an incomplete UTF-8 character
 * shows as U+FFFD until its last byte comes; clean_up_tokenization_spaces turns "do n" + "'t" into
 * "don't", 4 characters back). Twice the longest such rewrite.
 */
const HELD_BACK = 8;

/** The part of `text` that can be written: what the previous decode agrees on, less the held-back tail. */
function settledPrefix(previous: string, text: string): string {
  let n = 0;
  while (n < previous.length && n < text.length && previous[n] === text[n]) n++;
  n = Math.min(n, text.length - HELD_BACK);
  // never half of a surrogate pair
  if (n > 0 && /[\uD800-\uDBFF]/.test(text[n - 1]!)) n--;
  return text.slice(0, Math.max(0, n));
}

/**
 * Writes one prompt's output as it grows: new ids comma-separated, or the decoded text (the prompt
 * first). Text is written once two decodes in a row agree on it and it is HELD_BACK characters from
 * the end, so that a decoder that drops or changes characters (a leading BOM, spaces before
 * punctuation, an incomplete UTF-8 character) has done so before they are written. `end` writes the
 * rest and the newline: the same bytes as decoding all the ids at the end.
 */
export function tokenStream(io: CliIo, prompt: readonly number[], tokenizer: TextTokenizer | undefined) {
  const ids = [...prompt];
  const render = (all: readonly number[]) => (tokenizer ? tokenizer.decode(all) : all.slice(prompt.length).join(','));
  let previous = tokenizer ? render(prompt) : '';
  let written = '';
  // nothing is written before the first token: a refused prompt leaves stdout empty
  return {
    push(token: number) {
      ids.push(token);
      const text = render(ids);
      // ids are final as they come; text settles
      const settled = tokenizer ? settledPrefix(previous, text) : text;
      previous = text;
      if (settled.length > written.length && settled.startsWith(written)) {
        io.out(settled.slice(written.length));
        written = settled;
      }
    },
    end(all: readonly number[]) {
      const final = render(all);
      // only a decoder that rewrote settled text (further back than HELD_BACK, after two decodes agreed) misses this
      if (final.startsWith(written)) io.out(`${final.slice(written.length)}\n`);
      else io.out(`\n${final}\n`);
    },
  };
}

/**
 * `loom generate`: generation with a causal LM, greedy or sampled. `--prompt` prints prompt +
 * continuation as text, through `--tokenizer`, else the tokenizer the model's family has (GPT-2's
 * own BPE), else the tokenizer.json beside the weights; `--ids` prints the generated ids only, comma-separated.
 */
export function generateCommand(io: CliIo): Command {
  return addSamplingOptions(addNonFiniteOption(addCpuKernelOptions(new Command('generate'))))
    .description(`continue prompts with a causal LM (config.json model_type ${CAUSAL_LM_TYPES.join(', ')}), greedy unless --temperature/--top-k/--top-p`)
    .requiredOption('--weights <file>', "Hugging Face weights (.safetensors), llama.cpp's GGUF (.gguf: its metadata is the config), or a graph's weights under its param names with --graph")
    .option('--config <file>', 'Hugging Face config.json (its model_type picks the model); not with a .gguf')
    .option('--graph <file>', "a Loom graph JSON of your own that follows the KV-cache convention (MODELS.md, 'Decoding your own graph') instead of --config")
    .option('--prompt <text>', 'text to continue; repeat for a batch', collect)
    .option('--tokenizer <file>', "a Hugging Face tokenizer.json for --prompt (default: GPT-2's BPE for GPT-2, else tokenizer.json beside --weights)")
    .option('--ids <list>', 'token ids to continue, e.g. 1,57,211; prints the new ids, comma-separated', parseIdList)
    .option('--max-new-tokens <n>', 'tokens to generate per prompt', parseNonNegativeInt('--max-new-tokens'), 20)
    .option('--beams <k>', `beam search with k beams per prompt, at most ${MAX_BEAMS} (deterministic: no sampling options)`, parseBeams)
    .option('--length-penalty <p>', 'beam search: a hypothesis scores logP / length^p (default 1)', parseNumber('--length-penalty', (x) => Number.isFinite(x), 'a finite number'))
    .option('--no-kv-cache', 'recompute the whole prefix every step instead of decoding with the KV cache')
    .option('--quiet', 'no progress bar while the weights load')
    .addOption(backendOption())
    .action(async (opts: GenerateOpts) => {
      if ((opts.prompt === undefined) === (opts.ids === undefined)) throw new ModelInputError('give the input as --prompt TEXT or as --ids LIST (one of the two)');
      const maxMemory = maxMemoryBytes(opts);
      if (opts.config !== undefined && opts.graph !== undefined) throw new ModelInputError('give the model as --config C (a Hugging Face config.json) or as --graph G (a Loom graph JSON), not both');
      let model: CausalLm;
      let builtin: BuiltinTokenizer | undefined;
      if (opts.graph !== undefined) {
        // a user's graph: its params named in the weights file as the graph names them
        const { graph, weights } = modelWithWeights({ model: opts.graph, weights: opts.weights, maxMemory });
        model = causalLmFromGraph(graph, weights, { backend: await commandBackend(opts) });
      } else {
        // a GGUF file carries its config; else --config (loadCausalLm says which is missing)
        const runner = await loadCausalLm(opts.weights, opts.config, await commandBackend(opts), { maxMemory }, weightsProgress(quietIo(io, opts.quiet)));
        builtin = runner.modelFamily.tokenizer?.(runner.cfg);
        model = runner;
      }
      if (opts.tokenizer && opts.ids) throw new ModelInputError('--tokenizer applies to --prompt; with --ids there is no text to tokenize');
      let tokenizer: TextTokenizer | undefined;
      if (opts.prompt) {
        // a GGUF file's own tokenizer (its metadata) unless --tokenizer names another
        const gguf = !opts.tokenizer && opts.graph === undefined && isGguf(opts.weights) ? await readGgufHeader(opts.weights) : undefined;
        const file = opts.tokenizer ?? (builtin || gguf ? undefined : tokenizerBeside(opts.weights));
        if (file) tokenizer = loadHfTokenizer(file);
        else if (gguf && hasGgufTokenizer(gguf)) tokenizer = await tokenizerFromGguf(gguf);
        else if (builtin) tokenizer = builtin;
        else throw new ModelInputError(`--prompt needs a tokenizer: no tokenizer.json beside ${opts.weights}; pass --tokenizer FILE, or give token ids with --ids`);
        checkTokenizerFitsModel(tokenizer, model.vocabSize, opts.config ?? opts.graph ?? opts.weights);
      }
      const prompts = opts.ids ? [opts.ids] : opts.prompt!.map((p) => tokenizer!.encode(p));
      // one prompt: tokens appear as they are generated (beam search decides only at the end)
      const stream = prompts.length === 1 && (opts.beams ?? 1) === 1 ? tokenStream(io, prompts[0]!, opts.ids ? undefined : tokenizer) : undefined;
      const out = await generate(model, prompts, {
        ...(stream ? { onToken: (_: number, token: number) => stream.push(token) } : {}),
        maxNewTokens: opts.maxNewTokens,
        ...samplingOptions(opts),
        kvCache: opts.kvCache,
        maxMemory,
        ...(opts.beams !== undefined ? { beams: opts.beams } : {}),
        ...(opts.lengthPenalty !== undefined ? { lengthPenalty: opts.lengthPenalty } : {}),
      });
      if (stream) stream.end(out[0]!);
      else if (opts.ids) io.out(`${out[0]!.slice(opts.ids.length).join(',')}\n`);
      else for (const ids of out) io.out(`${tokenizer!.decode(ids)}\n`);
    });
}

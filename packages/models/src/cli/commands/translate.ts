import { statSync } from 'node:fs';
import { Command } from 'commander';
import { translate } from '../../decoding/seq2seq.ts';
import { ModelInputError } from '../../errors.ts';
import { SEQ2SEQ_TYPES, loadSeq2Seq } from '../../io/load-seq2seq.ts';
import { checkTokenizerFitsModel, loadHfTokenizer, tokenizerBeside, type TextTokenizer } from '../../tokenizers/hf-tokenizer.ts';
import { loadMarianTokenizer, marianTokenizerBeside } from '../../tokenizers/marian-tokenizer.ts';
import { MAX_BEAMS } from '../../config/limits.ts';
import { addCpuKernelOptions, addNonFiniteOption, addSamplingOptions, backendOption, commandBackend, maxMemoryBytes, parseBeams, parseIdList, parseNonNegativeInt, parseNumber, samplingOptions, type CpuKernelFlags, type SamplingFlags } from '../options.ts';
import { quietIo, weightsProgress, type CliIo } from '../io.ts';

interface TranslateOpts extends CpuKernelFlags, SamplingFlags {
  weights: string;
  config: string;
  ids?: number[];
  text?: string;
  tokenizer?: string;
  maxNewTokens?: number;
  beams?: number;
  lengthPenalty?: number;
  kvCache: boolean;
  quiet?: boolean;
}

/**
 * The tokenizer for --text: --tokenizer (a tokenizer.json, or a folder with Marian's source.spm and
 * vocab.json), else a tokenizer.json beside the weights, else Marian's files beside them.
 */
async function textTokenizer(given: string | undefined, weights: string): Promise<TextTokenizer> {
  if (given) return statSync(given, { throwIfNoEntry: false })?.isDirectory() ? loadMarianTokenizer(given) : loadHfTokenizer(given);
  const json = tokenizerBeside(weights);
  if (json) return loadHfTokenizer(json);
  const marian = marianTokenizerBeside(weights);
  if (marian) return loadMarianTokenizer(marian);
  throw new ModelInputError(`--text needs a tokenizer: no tokenizer.json, nor source.spm and vocab.json, beside ${weights}; pass --tokenizer FILE or DIR, or give token ids with --ids`);
}

/**
 * `loom translate`: an encoder-decoder checkpoint (Marian) decodes a source sentence, greedy or with
 * beams, following the generation rules of its config.json / generation_config.json (decoder start
 * token, end token, bad_words_ids, forced_eos_token_id, max_length, num_beams, length_penalty) as
 * Hugging Face's generate does. `--ids` prints the generated ids, comma-separated, without the start
 * token and up to and including the end token; `--text` prints text through a tokenizer.json.
 */
export function translateCommand(io: CliIo): Command {
  return addSamplingOptions(addNonFiniteOption(addCpuKernelOptions(new Command('translate'))))
    .description(`translate with an encoder-decoder checkpoint (config.json model_type ${SEQ2SEQ_TYPES.join(', ')})`)
    .requiredOption('--weights <file>', 'Hugging Face weights (.safetensors)')
    .requiredOption('--config <file>', 'Hugging Face config.json (a generation_config.json beside it is read too)')
    .option('--ids <list>', 'source token ids, e.g. 17,230,99,4,0 (the end token included, as the tokenizer gives them); prints ids', parseIdList)
    .option('--text <text>', "source text, through --tokenizer or the tokenizer beside --weights (tokenizer.json, or Marian's source.spm + vocab.json); prints text")
    .option('--tokenizer <path>', "for --text: a Hugging Face tokenizer.json, or a folder with Marian's source.spm and vocab.json")
    .option('--max-new-tokens <n>', "tokens to generate at most (default: the config's max_length - 1, else 20)", parseNonNegativeInt('--max-new-tokens'))
    .option('--beams <k>', `beam search with k beams, at most ${MAX_BEAMS} (default: the config's num_beams, else 1: greedy)`, parseBeams)
    .option('--length-penalty <p>', "beam search: a hypothesis scores logP / length^p (default: the config's length_penalty, else 1)", parseNumber('--length-penalty', (x) => Number.isFinite(x), 'a finite number'))
    .option('--no-kv-cache', 'recompute the whole target prefix every step instead of decoding with the KV cache')
    .option('--quiet', 'no progress bar while the weights load')
    .addOption(backendOption())
    .action(async (opts: TranslateOpts) => {
      if ((opts.ids === undefined) === (opts.text === undefined)) throw new ModelInputError('give the source as --ids LIST or as --text TEXT (one of the two)');
      if (opts.tokenizer && opts.ids) throw new ModelInputError('--tokenizer applies to --text; with --ids there is no text to tokenize');
      const tokenizer = opts.text !== undefined ? await textTokenizer(opts.tokenizer, opts.weights) : undefined;
      const maxMemory = maxMemoryBytes(opts);
      const model = await loadSeq2Seq(opts.weights, opts.config, await commandBackend(opts), { maxMemory }, weightsProgress(quietIo(io, opts.quiet)));
      if (tokenizer) checkTokenizerFitsModel(tokenizer, model.runner.cfg.srcVocab, opts.config);
      const source = opts.ids ?? tokenizer!.encode(opts.text!);
      if (source.length === 0) throw new ModelInputError('the source is empty');
      const g = model.generation;
      const [out] = await translate(model.runner, [source], {
        start: g.decoderStartTokenId,
        eos: g.eosTokenId,
        maxNewTokens: opts.maxNewTokens ?? Math.max(0, g.maxLength - 1),
        // sampling options ask for sampling: the config's num_beams then does not apply (as in HF's do_sample)
        beams: opts.beams ?? (opts.temperature !== undefined || opts.topK !== undefined || opts.topP !== undefined ? 1 : g.numBeams),
        lengthPenalty: opts.lengthPenalty ?? g.lengthPenalty,
        suppress: g.suppressTokens,
        forcedEos: g.forcedEosTokenId,
        kvCache: opts.kvCache,
        maxMemory,
        ...samplingOptions(opts),
      });
      const generated = out!.slice(1);
      io.out(tokenizer ? `${tokenizer.decode(generated)}\n` : `${generated.join(',')}\n`);
      await model.runner.dispose();
    });
}

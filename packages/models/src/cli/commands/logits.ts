import { Command } from 'commander';
import { writeSafetensors, type NDArray } from '@loom/graph';
import { ModelInputError } from '../../errors.ts';
import { SEQ2SEQ_TYPES, loadSeq2Seq } from '../../io/load-seq2seq.ts';
import { CAUSAL_LM_TYPES, loadCausalLm } from '../../io/load-causal-lm.ts';
import { checkOutputPath, writeOutputFile } from '../../io/output-file.ts';
import { addCpuKernelOptions, addNonFiniteOption, backendOption, commandBackend, maxMemoryBytes, parseIdList, type CpuKernelFlags } from '../options.ts';
import { quietIo, weightsProgress, type CliIo } from '../io.ts';

/**
 * `loom logits`: one forward pass, written as a float32 `logits` safetensors file: of a causal LM
 * (GPT-2, the Llama family) on --ids, [1, T, V]; of an encoder-decoder (Marian) on source --ids and
 * teacher-forced --decoder-ids (starting with the decoder start token), [1, len(decoder ids), V].
 */
export function logitsCommand(io: CliIo): Command {
  return addNonFiniteOption(addCpuKernelOptions(new Command('logits')))
    .description(`run a causal LM (config.json model_type ${CAUSAL_LM_TYPES.join(', ')}) on token ids, or an encoder-decoder (${SEQ2SEQ_TYPES.join(', ')}) on source ids and --decoder-ids, and write the logits [1, T, vocab] as float32 safetensors`)
    .requiredOption('--weights <file>', "Hugging Face weights (.safetensors), or llama.cpp's GGUF (.gguf: its metadata is the config)")
    .option('--config <file>', 'Hugging Face config.json (its model_type picks the model); not with a .gguf')
    .requiredOption('--ids <list>', 'token ids separated by commas, e.g. 6601,32704,795 (the source of an encoder-decoder)', parseIdList)
    .option('--decoder-ids <list>', 'encoder-decoder models: the target ids fed to the decoder (teacher forcing), e.g. 58100,17,230', parseIdList)
    .requiredOption('--out <file>', 'where to write the logits (.safetensors); written atomically, never over an input')
    .option('--force', 'replace --out if it exists')
    .option('--quiet', 'no progress bar while the weights load')
    .addOption(backendOption())
    .action(async (opts: CpuKernelFlags & { weights: string; config?: string; ids: number[]; decoderIds?: number[]; out: string; force?: boolean; quiet?: boolean }) => {
      const onLoad = weightsProgress(quietIo(io, opts.quiet));
      checkOutputPath(opts.out, [{ path: opts.weights, option: '--weights' }, ...(opts.config ? [{ path: opts.config, option: '--config' }] : [])], Boolean(opts.force));
      let logits: NDArray;
      if (opts.decoderIds) {
        if (opts.decoderIds.length === 0) throw new ModelInputError('--decoder-ids is empty: give at least the decoder start token');
        if (opts.config === undefined) throw new ModelInputError('an encoder-decoder needs --config C, its Hugging Face config.json');
        const model = await loadSeq2Seq(opts.weights, opts.config, await commandBackend(opts), { maxMemory: maxMemoryBytes(opts) }, onLoad);
        logits = await model.runner.teacherForced([opts.ids], [opts.decoderIds]);
      } else {
        logits = await (await loadCausalLm(opts.weights, opts.config, await commandBackend(opts), { maxMemory: maxMemoryBytes(opts) }, onLoad)).logits([opts.ids]);
      }
      const f32 = { dtype: 'f32' as const, shape: logits.shape, data: Float32Array.from(logits.data) };
      await writeOutputFile(opts.out, writeSafetensors(new Map([['logits', f32]])), Boolean(opts.force));
    });
}

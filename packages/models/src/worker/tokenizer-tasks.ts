/**
 * The tasks a Loom Worker runs for tokenizers: load a Hugging Face tokenizer.json (checked as the
 * CLI checks it, its regular expressions included), encode text, decode ids, dispose. In the Worker, so the
 * page carries neither the tokenizer nor its checks.
 */
import type { TaskContext, WorkerTask } from '@loom/backends/worker';
import { ModelInputError } from '../errors.ts';
import { hfTokenizerOf } from '../tokenizers/hf-tokenizer-of.ts';
import type { TextTokenizer } from '../tokenizers/text-tokenizer.ts';

let loaded = 0;

function tokenizerOf(context: TaskContext, id: string): TextTokenizer {
  const tokenizer = context.store.get(id) as TextTokenizer | undefined;
  if (!tokenizer || typeof tokenizer.encode !== 'function') throw new ModelInputError(`no tokenizer '${id}' in this Worker (disposed?)`);
  return tokenizer;
}

/** The tasks by name. */
export const TOKENIZER_TASKS: Readonly<Record<string, WorkerTask>> = {
  'tokenizer.load': (async (args: { json: string; name: string }, context: TaskContext) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(args.json);
    } catch (e) {
      throw new ModelInputError(`${args.name}: not JSON (${(e as Error).message})`);
    }
    const id = `tokenizer-${++loaded}`;
    context.store.set(id, hfTokenizerOf(parsed, {}, args.name));
    return id;
  }) as WorkerTask,
  'tokenizer.encode': (async (args: { id: string; text: string }, context: TaskContext) => tokenizerOf(context, args.id).encode(args.text)) as WorkerTask,
  'tokenizer.decode': (async (args: { id: string; ids: number[] }, context: TaskContext) => tokenizerOf(context, args.id).decode(args.ids)) as WorkerTask,
  'tokenizer.dispose': (async (args: { id: string }, context: TaskContext) => {
    tokenizerOf(context, args.id);
    context.store.delete(args.id);
  }) as WorkerTask,
};

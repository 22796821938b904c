/**
 * The tasks a Loom Worker runs for causal language models (GPT-2, the Llama family): load one from
 * a Hugging Face config.json and safetensors bytes, generate from it with each token sent to the
 * page as it is chosen, and dispose of it. Registered by serveModelWorker (serve.ts);
 * the page calls them through RemoteCausalLm (remote-causal-lm.ts).
 */
import { defaultMaxMemory, getBackend, type BackendName } from '@loom/backends';
import type { TaskContext, WorkerPrepareOptions, WorkerTask } from '@loom/backends/worker';
import { readSafetensors } from '@loom/graph';
import type { CausalLm } from '../decoding/causal-lm.ts';
import { generate, type GenerateOptions } from '../decoding/generate.ts';
import type { StepDecoder } from '../decoding/step.ts';
import { ModelInputError } from '../errors.ts';
import { familyOf, parseChecked } from '../families/registry.ts';
import { CausalLmRunner } from '../runners/causal-lm-runner.ts';

export interface LoadCausalLmArgs {
  /** The checkpoint's config.json, parsed. */
  readonly config: unknown;
  /** The safetensors file's bytes (transferred to the Worker). */
  readonly weights: ArrayBuffer;
  readonly backend: BackendName;
  readonly options?: WorkerPrepareOptions;
}

/** What the page learns of a loaded model. */
export interface LoadedCausalLm {
  readonly id: string;
  readonly family: string;
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly eosTokenId: number | null;
}

/** Generation options that cross to the Worker (no callbacks: tokens stream back instead). */
export type WorkerGenerateOptions = Omit<GenerateOptions, 'onToken' | 'beams' | 'lengthPenalty'>;

export interface GenerateArgs {
  readonly id: string;
  readonly prompt: readonly number[];
  readonly options: WorkerGenerateOptions;
}

/** Thrown inside the Worker to stop a generation the page stopped reading. */
class GenerationCancelled extends Error {}

let loaded = 0;

function modelOf(context: TaskContext, id: string): CausalLmRunner {
  const model = context.store.get(id);
  if (!(model instanceof CausalLmRunner)) throw new ModelInputError(`no causal LM '${id}' in this Worker (disposed?)`);
  return model;
}

async function load(args: LoadCausalLmArgs, context: TaskContext): Promise<LoadedCausalLm> {
  const options = args.options ?? {};
  const family = familyOf(args.config, 'config.json', 'causal-lm');
  // the config's sizes against the budget before the weights are read
  const config = parseChecked(family, args.config, 'config.json', { maxBytes: options.maxMemory ?? (await defaultMaxMemory()) });
  const backend = await getBackend(args.backend, options);
  const runner = new CausalLmRunner(family, config, family.weights(config, readSafetensors(new Uint8Array(args.weights)).tensors, 'weights'), backend);
  const id = `causal-lm-${++loaded}`;
  context.store.set(id, runner);
  return { id, family: runner.family, vocabSize: runner.vocabSize, maxPositions: runner.maxPositions, eosTokenId: runner.eosTokenId };
}

/** A turn of the Worker's event loop (a message to itself: no timer clamping). */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/**
 * The model with a turn of the event loop before each decoding step: a cpu run never yields, so
 * without it the page's cancel would only be read after the last token.
 */
function yieldingBetweenSteps(model: CausalLmRunner): CausalLm {
  const yielding: CausalLm = Object.create(model) as CausalLm;
  yielding.decoder = (kvCache: boolean): StepDecoder => {
    const inner = model.decoder(kvCache);
    return {
      prefill: (prefixes) => inner.prefill(prefixes),
      step: async (tokens) => {
        await nextTask();
        return inner.step(tokens);
      },
      ...(inner.reorder ? { reorder: (order: readonly number[]) => inner.reorder!(order) } : {}),
      ...(inner.dispose ? { dispose: () => inner.dispose!() } : {}),
    };
  };
  return yielding;
}

async function generateTokens(args: GenerateArgs, context: TaskContext): Promise<number> {
  let count = 0;
  try {
    await generate(yieldingBetweenSteps(modelOf(context, args.id)), [args.prompt], {
      ...args.options,
      onToken: (_row, token) => {
        if (context.signal.aborted) throw new GenerationCancelled();
        context.emit(token);
        count++;
      },
    });
  } catch (e) {
    if (!(e instanceof GenerationCancelled)) throw e;
  }
  return count;
}

async function dispose(args: { id: string }, context: TaskContext): Promise<void> {
  const model = modelOf(context, args.id);
  context.store.delete(args.id);
  await model.dispose();
}

/** The tasks by name. */
export const CAUSAL_LM_TASKS: Readonly<Record<string, WorkerTask>> = {
  'causal-lm.load': load as WorkerTask,
  'causal-lm.generate': generateTokens as WorkerTask,
  'causal-lm.dispose': dispose as WorkerTask,
};

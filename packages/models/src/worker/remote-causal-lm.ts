/**
 * A causal language model running in a Loom Worker, seen from the page: loaded from a config.json
 * and safetensors bytes, it generates tokens that arrive one by one through an async iterator while
 * the page's main thread stays free.
 *
 *   const runtime = new WorkerRuntime(new Worker(new URL('./loom-worker.js', import.meta.url), { type: 'module' }));
 *   const lm = await RemoteCausalLm.load(runtime, { config, weights, backend: 'cpu', options: { cpu: { threads: 4 } } });
 *   for await (const token of lm.generate(promptIds, { maxNewTokens: 64 })) show(token);
 *   await lm.dispose();
 */
import type { WorkerRuntime } from '@loom/backends/worker';
import type { GenerateArgs, LoadCausalLmArgs, LoadedCausalLm, WorkerGenerateOptions } from './causal-lm-tasks.ts';

export class RemoteCausalLm {
  private constructor(
    private readonly runtime: WorkerRuntime,
    readonly info: LoadedCausalLm,
  ) {}

  /** Loads the model in the Worker; the weights' bytes are transferred (the page's buffer is unusable afterwards). */
  static async load(runtime: WorkerRuntime, args: LoadCausalLmArgs): Promise<RemoteCausalLm> {
    return new RemoteCausalLm(runtime, (await runtime.task('causal-lm.load', args, [args.weights])) as LoadedCausalLm);
  }

  /** The continuation of `prompt`, token by token as the Worker chooses them (greedy unless sampling options are given); breaking out of the loop stops it. */
  async *generate(prompt: readonly number[], options: WorkerGenerateOptions): AsyncGenerator<number> {
    const args: GenerateArgs = { id: this.info.id, prompt, options };
    for await (const token of this.runtime.stream('causal-lm.generate', args)) yield token as number;
  }

  /** Frees the model in the Worker (the Worker itself ends with the runtime's dispose). */
  async dispose(): Promise<void> {
    await this.runtime.task('causal-lm.dispose', { id: this.info.id });
  }
}

/** A Hugging Face tokenizer.json loaded in a Loom Worker, seen from the page: encode and decode by message. */
import type { WorkerRuntime } from '@loom/backends/worker';

export class RemoteTokenizer {
  private constructor(
    private readonly runtime: WorkerRuntime,
    private readonly id: string,
  ) {}

  /** Loads (and checks) the tokenizer.json's text in the Worker; `name` names it in errors. */
  static async load(runtime: WorkerRuntime, json: string, name = 'tokenizer.json'): Promise<RemoteTokenizer> {
    return new RemoteTokenizer(runtime, (await runtime.task('tokenizer.load', { json, name })) as string);
  }

  encode(text: string): Promise<number[]> {
    return this.runtime.task('tokenizer.encode', { id: this.id, text }) as Promise<number[]>;
  }

  decode(ids: readonly number[]): Promise<string> {
    return this.runtime.task('tokenizer.decode', { id: this.id, ids: [...ids] }) as Promise<string>;
  }

  /** Frees the tokenizer in the Worker. */
  async dispose(): Promise<void> {
    await this.runtime.task('tokenizer.dispose', { id: this.id });
  }
}

/**
 * `@loom/models/worker`, the page's side of a Loom Worker: a WorkerRuntime (from @loom/backends)
 * and the models and tokenizers inside it. The Worker's own script imports `@loom/models/worker/serve`.
 */
export { RemoteCausalLm } from './remote-causal-lm.ts';
export { RemoteTokenizer } from './remote-tokenizer.ts';
export type { LoadCausalLmArgs, LoadedCausalLm, WorkerGenerateOptions } from './causal-lm-tasks.ts';
export { WorkerRuntime, WorkerError, type RemoteModel } from '@loom/backends/worker';

/**
 * `@loom/models/worker/serve`, the Worker's side: `serveModelWorker()` in the Worker's script serves a
 * page's WorkerRuntime: models on any backend, causal LMs (load, generate with streamed tokens) and
 * tokenizer.json files.
 */
import { serveWorker } from '@loom/backends/worker/serve';
import type { WorkerTask } from '@loom/backends/worker';
import { CAUSAL_LM_TASKS } from './causal-lm-tasks.ts';
import { TOKENIZER_TASKS } from './tokenizer-tasks.ts';

/** Serves a page's WorkerRuntime from this Worker, with any of `tasks` added to Loom's. */
export function serveModelWorker(tasks: Readonly<Record<string, WorkerTask>> = {}): void {
  serveWorker({ ...CAUSAL_LM_TASKS, ...TOKENIZER_TASKS, ...tasks });
}

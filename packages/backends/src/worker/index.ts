/** `@loom/backends/worker`, the page's side of a Loom Worker (the Worker's script imports `@loom/backends/worker/serve`). */
export { WorkerError, WorkerRuntime, type RemoteModel, type RemoteWeights, type WorkerLike } from './worker-runtime.ts';
export type { KernelTimes, WorkerPrepareOptions } from './worker-protocol.ts';
export type { TaskContext, WorkerTask } from './serve-worker.ts';

/**
 * Inside a dedicated Worker: serves the requests of a WorkerRuntime on the page (worker-runtime.ts).
 * It prepares models on any backend (the cpu's threads as nested Workers, webgpu on the Worker's
 * navigator.gpu), runs them (outputs transferred back) and runs named tasks that packages add, such
 * as @loom/models' generation, whose values stream back as they come.
 *
 *   // loom-worker.ts, bundled as its own file
 *   import { serveWorker } from '@loom/backends/worker/serve';
 *   serveWorker();
 */
import { graphFromJson, LoomError, type NDArray } from '@loom/graph';
import type { PreparedModel } from '../backend.ts';
import { getBackend } from '../registry.ts';
import { buffersOf, type KernelTimes, type WorkerReply, type WorkerRequest } from './worker-protocol.ts';

/** What a task is given besides its arguments. */
export interface TaskContext {
  /** Sends a value to the page now (a stream's next item); `transfer` lists buffers to move rather than copy. */
  emit(value: unknown, transfer?: Transferable[]): void;
  /** Aborted when the page stops reading the task's values. */
  readonly signal: AbortSignal;
  /** Objects that live in the Worker between tasks (a loaded model), by the names tasks give them. */
  readonly store: Map<string, unknown>;
}

/** A named piece of work the Worker runs on request: its result answers the request; emitted values stream before it. */
export type WorkerTask = (args: never, context: TaskContext) => Promise<unknown>;

/** The scope a dedicated Worker runs in, as far as serving needs it. */
interface WorkerScope {
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(message: WorkerReply, transfer?: Transferable[]): void;
}

export class WorkerTaskError extends LoomError {
  constructor(message: string) {
    super('worker', message);
  }
}

/** Starts answering the page's requests in this Worker; `tasks` adds named tasks to prepare, run and dispose. */
export function serveWorker(tasks: Readonly<Record<string, WorkerTask>> = {}): void {
  const scope = globalThis as unknown as WorkerScope;
  const models = new Map<number, PreparedModel>();
  const running = new Map<number, AbortController>();
  const store = new Map<string, unknown>();
  const weightSets = new Map<number, Map<string, NDArray>>();
  /** The buffers behind the uploaded weights: an output that is one of them is copied to the page, not moved. */
  const weightBuffers = new Set<ArrayBuffer>();
  let nextModel = 1;
  let nextWeights = 1;
  const reply = (message: WorkerReply, transfer: Transferable[] = []) => scope.postMessage(message, transfer);
  const modelOf = (id: number) => {
    const model = models.get(id);
    if (!model) throw new WorkerTaskError(`no prepared model ${id} in this Worker (disposed?)`);
    return model;
  };
  const handle = async (request: WorkerRequest): Promise<void> => {
    switch (request.kind) {
      case 'weights': {
        // kept here for any number of prepares (the page sends a checkpoint once)
        const id = nextWeights++;
        const set = new Map(Object.entries(request.weights));
        weightSets.set(id, set);
        for (const b of buffersOf(set.values())) weightBuffers.add(b);
        return reply({ id: request.id, kind: 'result', value: id });
      }
      case 'release-weights':
        const set = weightSets.get(request.weights);
        if (!set) throw new WorkerTaskError(`no weights ${request.weights} in this Worker`);
        weightSets.delete(request.weights);
        for (const b of buffersOf(set.values())) weightBuffers.delete(b);
        return reply({ id: request.id, kind: 'result', value: undefined });
      case 'prepare': {
        const backend = await getBackend(request.backend);
        const weights = typeof request.weights === 'number' ? weightSets.get(request.weights) : new Map(Object.entries(request.weights));
        if (!weights) throw new WorkerTaskError(`no weights ${String(request.weights)} in this Worker`);
        const model = await backend.prepare(graphFromJson(request.graph), weights, request.options);
        const id = nextModel++;
        models.set(id, model);
        return reply({ id: request.id, kind: 'result', value: id });
      }
      case 'profile':
        return reply({ id: request.id, kind: 'result', value: await kernelTimes(modelOf(request.model), request.feeds) });
      case 'run': {
        const outputs: Record<string, NDArray> = await modelOf(request.model).run(request.feeds);
        // an output that is a weight's own array (a graph returning a param) is copied, not moved away
        return reply({ id: request.id, kind: 'result', value: outputs }, buffersOf(Object.values(outputs)).filter((b) => !weightBuffers.has(b)));
      }
      case 'dispose':
        modelOf(request.model).dispose();
        models.delete(request.model);
        return reply({ id: request.id, kind: 'result', value: undefined });
      case 'cancel':
        running.get(request.task)?.abort();
        return reply({ id: request.id, kind: 'result', value: undefined });
      case 'task': {
        const task = tasks[request.task];
        if (!task) throw new WorkerTaskError(`this Worker has no task '${request.task}' (it serves: ${Object.keys(tasks).join(', ') || 'none'})`);
        const controller = new AbortController();
        running.set(request.id, controller);
        try {
          const emit = (value: unknown, transfer: Transferable[] = []) => reply({ id: request.id, kind: 'value', value }, transfer);
          const value = await task(request.args as never, { emit, signal: controller.signal, store });
          return reply({ id: request.id, kind: 'result', value });
        } finally {
          running.delete(request.id);
        }
      }
    }
  };
  scope.onmessage = (event) => {
    const request = event.data;
    handle(request).catch((e: unknown) => {
      const error = e instanceof Error ? e : new Error(String(e));
      reply({ id: request.id, kind: 'error', name: error.name, message: error.message });
    });
  };
}

/**
 * One run's kernel times: the GPU backends time each node (their `profile`); the cpu backend, prepared
 * with `cpu.profile`, times each plan step of a run (its program's stepTimes). Others measure none.
 */
async function kernelTimes(model: PreparedModel, feeds: Readonly<Record<string, NDArray>>): Promise<KernelTimes> {
  const timed = model as PreparedModel & { profile?(f: typeof feeds): Promise<{ node: number; ms: number }[]>; program?: { stepTimes?(): readonly number[] } };
  if (typeof timed.profile === 'function') return { nodes: await timed.profile(feeds) };
  if (typeof timed.program?.stepTimes === 'function') {
    await model.run(feeds);
    return { steps: [...timed.program.stepTimes()] };
  }
  throw new WorkerTaskError('this model measures no kernel times (the cpu backend does when prepared with cpu.profile)');
}

/**
 * The page's side of a Loom Worker: prepares and runs models inside a dedicated Worker (one that
 * called serveWorker) behind promises, so the page's main thread stays free while the model computes.
 * Feeds and outputs are transferred, not copied (a feed's buffer is unusable on the page afterwards);
 * weights are copied unless `transferWeights` is asked for. Named tasks (generation, from
 * @loom/models) stream their values through an async iterator. `dispose` ends the Worker.
 *
 *   const runtime = new WorkerRuntime(new Worker(new URL('./loom-worker.js', import.meta.url), { type: 'module' }));
 *   const model = await runtime.prepare('cpu', graph, weights, { cpu: { threads: 4 } });
 *   const { logits } = await model.run({ input_ids });
 *   runtime.dispose();
 */
import { graphToJson, LoomError, type Graph, type NDArray, type Weights } from '@loom/graph';
import type { BackendName } from '../backend.ts';
import { buffersOf, type KernelTimes, type WorkerPrepareOptions, type WorkerReply, type WorkerRequest } from './worker-protocol.ts';

/** An error the Worker raised, or the Worker's end: `name` is the original error's (ConfigError, MemoryBudgetError, ...). */
export class WorkerError extends LoomError {
  constructor(name: string, message: string) {
    super('worker', message);
    this.name = name;
  }
}

/** The Worker as the runtime uses it: a browser Worker, or anything that posts and receives the same messages. */
export interface WorkerLike {
  postMessage(message: unknown, transfer: Transferable[]): void;
  onmessage: ((event: MessageEvent) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  terminate(): void;
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly onValue?: (value: unknown) => void;
}

type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** A model prepared inside the Worker. */
export interface RemoteModel {
  /** Runs the model; the outputs' buffers are transferred to the page, and the feeds' to the Worker unless `transferFeeds` is false (then copied). */
  run(feeds: Readonly<Record<string, NDArray>>, transferFeeds?: boolean): Promise<Record<string, NDArray>>;
  /** Kernel times of one run (the feeds copied): per plan step on the cpu (prepared with cpu.profile), per node on the GPU backends. */
  profile(feeds: Readonly<Record<string, NDArray>>): Promise<KernelTimes>;
  /** Frees the model in the Worker. */
  dispose(): Promise<void>;
}

/** A checkpoint's weights held in the Worker, for any number of prepares. */
export interface RemoteWeights {
  readonly id: number;
}

export class WorkerRuntime {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private ended: WorkerError | undefined;

  constructor(private readonly worker: WorkerLike) {
    worker.onmessage = (event: MessageEvent<WorkerReply>) => this.receive(event.data);
    // an error nothing in the Worker handled: the Worker's state is unknown, so it ends
    worker.onerror = (event: ErrorEvent) => {
      worker.terminate();
      this.end(new WorkerError('WorkerError', `the Loom Worker failed: ${event.message || 'it could not start (is its script served, and does it call serveWorker?)'}`));
    };
  }

  /** Sends weights to the Worker once, for several prepares; `transfer` moves their buffers instead of copying them. */
  async uploadWeights(weights: Weights, transfer = false): Promise<RemoteWeights> {
    return { id: (await this.request({ kind: 'weights', weights: Object.fromEntries(weights) }, transfer ? buffersOf(weights.values()) : [])) as number };
  }

  /** Frees uploaded weights in the Worker (models prepared from them keep what they packed or uploaded). */
  async releaseWeights(weights: RemoteWeights): Promise<void> {
    await this.request({ kind: 'release-weights', weights: weights.id });
  }

  /** Prepares `graph` on `backend` inside the Worker, with weights given (copied, or moved with `transferWeights`) or uploaded before. */
  async prepare(backend: BackendName, graph: Graph, weights: Weights | RemoteWeights, options: WorkerPrepareOptions & { transferWeights?: boolean } = {}): Promise<RemoteModel> {
    const { transferWeights, ...prepareOptions } = options;
    const uploaded = !(weights instanceof Map);
    const sent = uploaded ? (weights as RemoteWeights).id : Object.fromEntries(weights as Weights);
    const transfer = !uploaded && transferWeights ? buffersOf((weights as Weights).values()) : [];
    const id = (await this.request({ kind: 'prepare', backend, graph: graphToJson(graph), weights: sent, options: prepareOptions }, transfer)) as number;
    return {
      run: async (feeds, transferFeeds = true) => (await this.request({ kind: 'run', model: id, feeds }, transferFeeds ? buffersOf(Object.values(feeds)) : [])) as Record<string, NDArray>,
      profile: async (feeds) => (await this.request({ kind: 'profile', model: id, feeds })) as KernelTimes,
      dispose: async () => void (await this.request({ kind: 'dispose', model: id })),
    };
  }

  /** Runs a named task in the Worker and returns its result (values it emits are dropped). */
  task(name: string, args: unknown, transfer: Transferable[] = []): Promise<unknown> {
    return this.request({ kind: 'task', task: name, args }, transfer);
  }

  /**
   * Runs a named task and yields the values it emits as they arrive (a generation's tokens); the
   * iterator ends when the task does. Leaving the loop early (break) cancels the task in the Worker.
   */
  async *stream(name: string, args: unknown, transfer: Transferable[] = []): AsyncGenerator<unknown, unknown> {
    const queue: unknown[] = [];
    let wake: (() => void) | undefined;
    let finished: { value: unknown } | { error: Error } | undefined;
    let reading = true;
    const { id, reply } = this.send({ kind: 'task', task: name, args }, transfer, (value) => {
      if (!reading) return; // values still on their way after a cancel
      queue.push(value);
      wake?.();
    });
    void reply.then(
      (value) => ((finished = { value }), wake?.()),
      (error: Error) => ((finished = { error }), wake?.()),
    );
    try {
      for (;;) {
        if (queue.length > 0) {
          yield queue.shift();
          continue;
        }
        if (finished) {
          if ('error' in finished) throw finished.error;
          return finished.value;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      reading = false;
      if (!finished && !this.ended) void this.request({ kind: 'cancel', task: id }).catch(() => {});
    }
  }

  /** Ends the Worker; pending requests reject with a WorkerError. */
  dispose(): void {
    this.worker.terminate();
    this.end(new WorkerError('WorkerError', 'the Loom Worker was disposed'));
  }

  private request(request: Request, transfer: Transferable[] = []): Promise<unknown> {
    return this.send(request, transfer).reply;
  }

  /** Posts a request; its id (a stream cancels by it) and its answer. */
  private send(request: Request, transfer: Transferable[] = [], onValue?: (value: unknown) => void): { id: number; reply: Promise<unknown> } {
    const id = this.nextId++;
    if (this.ended) return { id, reply: Promise.reject(this.ended) };
    const reply = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...(onValue ? { onValue } : {}) });
      try {
        this.worker.postMessage({ ...request, id }, transfer);
      } catch (e) {
        this.pending.delete(id);
        reject(e as Error);
      }
    });
    return { id, reply };
  }

  private receive(reply: WorkerReply): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    if (reply.kind === 'value') return pending.onValue?.(reply.value);
    this.pending.delete(reply.id);
    if (reply.kind === 'result') pending.resolve(reply.value);
    else pending.reject(new WorkerError(reply.name, reply.message));
  }

  private end(error: WorkerError): void {
    this.ended ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}

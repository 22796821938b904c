import { StateStore, type Backend, type PrepareOptions, type PreparedModel } from '@loom/backends';
import { TRAIN_STATE, trainStepGraph, type TrainStepOptions } from '@loom/compiler';
import { graphParams, nodeName, stateNames, type Graph, type NDArray, type Weights } from '@loom/graph';
import { ModelInputError } from '../errors.ts';

export interface TrainerOptions extends Omit<TrainStepOptions, 'loss'> {
  /** The f32 scalar output to minimize (default 'loss'). */
  readonly loss?: string;
  /** How the backend prepares the step's plan (threads, memory budget, ...). */
  readonly prepare?: PrepareOptions;
}

/** What one step reports: its loss, the rate and gradient norm of its update, and the outputs kept. */
export interface StepReport {
  readonly loss: number;
  readonly lr: number;
  readonly gradNorm: number;
  readonly outputs: Record<string, NDArray>;
}

/**
 * A model being trained: the step's plan (forward, backward and update: trainStepGraph) prepared
 * once on a backend, the trained weights and the optimizer's states kept by it between steps (in
 * device memory on the GPU backends), read back only when asked (`parameters`, `states`).
 */
export class Trainer {
  private constructor(
    readonly model: PreparedModel,
    /** The step graph the plan was compiled from. */
    readonly graph: Graph,
    /** The trained parameters' names. */
    readonly trained: readonly string[],
    /** Every state's name (parameters, moments, step counters). */
    readonly stateNames: readonly string[],
    private readonly lossName: string,
  ) {}

  /**
   * Prepares the step of `lossGraph` (a graph with an f32 scalar output `loss`) on `backend`,
   * starting from `weights` (every parameter of the graph); optimizer states start from zeros
   * unless `states` (a checkpoint's, say) gives them.
   */
  static async create(backend: Backend, lossGraph: Graph, weights: Weights, options: TrainerOptions, states?: ReadonlyMap<string, NDArray>): Promise<Trainer> {
    const lossName = options.loss ?? 'loss';
    const graph = trainStepGraph(lossGraph, { ...options, loss: lossName });
    const names = [...stateNames(graph)];
    const trained = graphParams(lossGraph).map((p) => nodeName(p)!).filter((name) => names.includes(name));
    const store = new StateStore();
    for (const name of trained) {
      const w = weights.get(name);
      if (!w) throw new ModelInputError(`trainer: no initial value for parameter '${name}'`);
      store.set(name, w);
    }
    for (const [name, value] of states ?? []) if (names.includes(name)) store.set(name, value);
    // the weights the step does not train stay weights of the plan
    const frozen = new Map([...weights].filter(([name]) => !names.includes(name)));
    const model = await backend.prepare(graph, frozen, { ...options.prepare, state: store });
    return new Trainer(model, graph, trained, names, lossName);
  }

  /** One step on a batch (the loss graph's inputs); the weights and states move on in place. */
  async step(feeds: Readonly<Record<string, NDArray>>): Promise<StepReport> {
    const outputs = await this.model.run(feeds);
    const scalar = (name: string) => outputs[name]!.data[0]!;
    return { loss: scalar(this.lossName), lr: scalar('lr'), gradNorm: scalar('grad_norm'), outputs };
  }

  /** Updates done so far. */
  async steps(): Promise<number> {
    return (await this.read(TRAIN_STATE.step))?.data[0] ?? 0;
  }

  /** The trained weights now, read back from the backend. */
  async parameters(): Promise<Map<string, NDArray>> {
    return this.readAll(this.trained);
  }

  /** Every state now: the trained weights, the optimizer's moments and step counters. */
  async states(): Promise<Map<string, NDArray>> {
    return this.readAll(this.stateNames);
  }

  dispose(): void {
    this.model.dispose();
  }

  private async readAll(names: readonly string[]): Promise<Map<string, NDArray>> {
    const out = new Map<string, NDArray>();
    for (const name of names) {
      const value = await this.read(name);
      if (value) out.set(name, value);
    }
    return out;
  }

  /** A state's value, copied (the cpu backend's store holds the arrays the next step updates in place). */
  private async read(name: string): Promise<NDArray | undefined> {
    const value = this.model.readState ? await this.model.readState(name).catch(() => undefined) : this.model.state.get(name);
    return value && { dtype: value.dtype, shape: [...value.shape], data: value.data.slice() };
  }
}

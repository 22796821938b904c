import type { Plan } from '@loom/compiler';
import { bindInputs, checkWeights, InputError, stateNames, type DimBindings, type NDArray, type Weights } from '@loom/graph';
import type { PreparedModel } from '../backend.ts';
import { checkIndices, checkQuantizedCodes, findIndexChecks, type IndexCheck } from '../index-checks.ts';
import { GpuUnsupportedOpError, type GpuBackendName } from './errors.ts';
import { checkMemoryBudget, defaultMaxMemory, runBytes, staticBytes, type ModelBytes } from '../memory-budget.ts';
import { StateStore } from '../state-store.ts';
import { ScheduleCache } from './schedule-cache.ts';

/**
 * What a GpuProgram asks of its device: everything that touches it. WebGPU (buffers, pipelines, one
 * command encoder per run) and WebGL (textures, gpu.js passes) each implement it; the program does
 * the rest, once for both.
 *
 * `S` is a run's schedule for fixed symbol values (launches and their pipelines, or passes and their
 * kernels), `T` one entry of a profile (a kernel's or a pass's time).
 */
export interface GpuDevice<S, T> {
  readonly backend: 'webgpu' | 'webgl';
  /** Throws the backend's typed error when the device (or GL context) is gone. */
  checkAlive(what: string): void;
  /** The backend's typed error for a run after dispose. */
  disposedError(): Error;
  /** Uploads the plan's weights and constants, once, at prepare. */
  upload(weights: Weights): Promise<void>;
  /** Checks of the feeds this device needs beyond binding and index checks (WebGL: integers exact in float32). */
  checkFeeds?(feeds: Readonly<Record<string, NDArray>>): void;
  /** Every step's launches (or passes) for these symbol values, ready to run. */
  render(bindings: DimBindings): S | Promise<S>;
  /** Frees what a schedule evicted from the cache holds (WebGL: kernels no other schedule uses). */
  forget?(schedule: S): void;
  /** One run: states placed, inputs uploaded, every step launched, outputs read back; with `profile`, each launch timed. */
  execute(schedule: S, feeds: Readonly<Record<string, NDArray>>, bindings: DimBindings, profile: T[] | undefined): Promise<Record<string, NDArray>>;
  /** A state's value downloaded from the device, or undefined when the device does not hold it. */
  readState(name: string): Promise<NDArray | undefined>;
  /** Frees everything the device holds for this program (dispose). */
  release(): void;
}

export interface GpuProgramOptions {
  /** The states (KV caches); shared with the models prepared with the same store. */
  readonly state?: StateStore;
  /** Bytes the model and a run may hold (default: three quarters of the machine's memory). */
  readonly maxMemory?: number;
}

/** Schedules kept per program: a decoder alternates between a prompt length and one token. */
const SCHEDULE_CACHE = 8;

/**
 * A compiled plan on a GPU device: one run at a time (runs chain), the memory budget, input binding
 * and index checks, the schedule cache, states read back, disposal. A run goes through named phases:
 * `checkUsable`, `bind`, `scheduleFor`, then the device's `execute`. The device renders, allocates,
 * launches and reads back (GpuDevice).
 */
export class GpuProgram<S, T> implements PreparedModel {
  private disposed = false;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly schedules: ScheduleCache<S>;
  private readonly stateNames: ReadonlySet<string>;
  private readonly indexChecks: readonly IndexCheck[];

  protected constructor(
    readonly plan: Plan,
    /** The states (KV caches) of this model; shared with the models prepared with the same store. */
    readonly state: StateStore,
    protected readonly device: GpuDevice<S, T>,
    private readonly budget: { readonly held: ModelBytes; readonly maxBytes: number },
  ) {
    this.schedules = new ScheduleCache(SCHEDULE_CACHE, (schedule) => device.forget?.(schedule));
    this.stateNames = stateNames(plan.graph);
    this.indexChecks = findIndexChecks(plan.graph, plan.steps.map((s) => plan.graph.nodes[s.node]!));
  }

  /**
   * Before anything is made on the device: the weights fit the graph, and the model (weights and
   * constants) fits the memory budget. Devices tell no memory size: the machine's is the default.
   */
  protected static async budget(backend: string, plan: Plan, weights: Weights, maxMemory: number | undefined): Promise<{ held: ModelBytes; maxBytes: number }> {
    checkWeights(plan.graph, weights, new Map());
    checkQuantizedCodes(plan.graph, plan.steps.map((s) => plan.graph.nodes[s.node]!), weights, (op, why) => new GpuUnsupportedOpError(backend as GpuBackendName, op, why));
    const held = staticBytes(plan, weights);
    const maxBytes = maxMemory ?? (await defaultMaxMemory());
    checkMemoryBudget(backend, held, maxBytes);
    return { held, maxBytes };
  }

  /** Uploads weights and constants; a failure frees what was made. */
  protected async upload(weights: Weights): Promise<void> {
    try {
      await this.device.upload(weights);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  run(feeds: Readonly<Record<string, NDArray>>): Promise<Record<string, NDArray>> {
    return this.locked(() => this.runPhases(feeds, undefined));
  }

  /** Runs once with every launch (pass) timed on its own: slower than `run`, it shows where the time goes. */
  async profile(feeds: Readonly<Record<string, NDArray>>): Promise<T[]> {
    const timings: T[] = [];
    await this.locked(() => this.runPhases(feeds, timings));
    return timings;
  }

  /** Downloads the current value of a state (e.g. a KV cache) from the device. */
  async readState(name: string): Promise<NDArray> {
    await this.chain;
    if (this.disposed) throw this.device.disposedError();
    const value = (await this.device.readState(name)) ?? this.state.get(name);
    if (!value) throw new InputError(`state '${name}' has no value yet`);
    return value;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.schedules.clear();
    this.device.release();
  }

  /** Runs `work` after the runs before it have finished (one command stream, one set of buffers). */
  private locked<R>(work: () => Promise<R>): Promise<R> {
    const result = this.chain.then(work);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private async runPhases(feeds: Readonly<Record<string, NDArray>>, profile: T[] | undefined): Promise<Record<string, NDArray>> {
    this.checkUsable();
    const bindings = this.bind(feeds);
    const schedule = await this.scheduleFor(bindings);
    if (this.disposed) throw this.device.disposedError();
    return this.device.execute(schedule, feeds, bindings, profile);
  }

  private checkUsable(): void {
    if (this.disposed) throw this.device.disposedError();
    this.device.checkAlive('run');
  }

  /** The symbol values of the feeds, once they fit the graph, the budget and the tables they index. */
  private bind(feeds: Readonly<Record<string, NDArray>>): DimBindings {
    const graph = this.plan.graph;
    const bindings = bindInputs(graph, feeds, { optional: this.stateNames });
    checkMemoryBudget(this.device.backend, this.budget.held, this.budget.maxBytes, { bytes: runBytes(this.plan, bindings), bindings });
    checkIndices(graph, this.indexChecks, feeds, bindings);
    this.device.checkFeeds?.(feeds);
    return bindings;
  }

  private scheduleFor(bindings: DimBindings): Promise<S> {
    return this.schedules.get(bindings, () => this.device.render(bindings));
  }
}

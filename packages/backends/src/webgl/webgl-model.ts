import type { Plan } from '@loom/compiler';
import { bindInputs, checkWeights, InputError, nodeName, resolveShape, stateNames, type DimBindings, type GraphNode, type NDArray, type Weights } from '@loom/graph';
import type { PreparedModel } from '../backend.ts';
import { checkIndices, findIndexChecks, tensorLabel, viewSource, type IndexCheck } from '../index-checks.ts';
import { checkMemoryBudget, defaultMaxMemory, runBytes, staticBytes, type ModelBytes } from '../memory-budget.ts';
import { StateStore } from '../state-store.ts';
import { WebGlDisposedError } from './errors.ts';
import { GlStates } from './gl-states.ts';
import { sizeOfShape, type GlPass, type KernelContext, type PassInput, type TensorInfo } from './kernel.ts';
import { glKernelFor, type AnyGlRenderer } from './kernel-table.ts';
import type { GlKernel, GlRuntime, GlTensor } from './runtime.ts';

/** i32 tensors live in float32 textures: integers are exact up to this magnitude. */
export const I32_EXACT_LIMIT = 2 ** 24;

/** One pass's wall time in `WebGlModel.profile` (the GPU is drained after each pass). */
export interface GlPassTiming {
  readonly node: number;
  readonly op: string;
  readonly what: string;
  readonly ms: number;
}

interface StepInfo {
  readonly node: GraphNode;
  readonly render: AnyGlRenderer;
  /** The node each input reads, through reshapes (views of the same texture). */
  readonly sources: readonly number[];
}

interface ScheduledPass {
  readonly key: string;
  readonly kernel: GlKernel;
  readonly inputs: readonly PassInput[];
  readonly size: number;
}

/** Everything about a run that depends only on the symbol values: passes and their kernels. */
interface Schedule {
  readonly passes: readonly (readonly ScheduledPass[])[];
  /** For each node that holds a run's value, the index of the last step that reads it. */
  readonly lastUse: ReadonlyMap<number, number>;
}

const SCHEDULE_CACHE = 8;

/**
 * A compiled plan in one GL context. Weights and constants are uploaded once as textures; each run
 * uploads the feeds, draws every pass of every step into textures that stay on the GPU, frees each
 * texture after its last reader, and reads back only the outputs. States (KV caches) stay on the
 * GPU between runs. Kernels are compiled per shape signature and shared by the steps that have it.
 */
export class WebGlModel implements PreparedModel {
  private disposed = false;
  private readonly statics = new Map<number, GlTensor | null>();
  private readonly uploaders = new Map<number, ReturnType<GlRuntime['uploadKernel']>>();
  private readonly kernels = new Map<string, { kernel: GlKernel; schedules: number }>();
  private readonly schedules = new Map<string, Schedule>();
  private chain: Promise<unknown> = Promise.resolve();
  private readonly stateNames: ReadonlySet<string>;
  private readonly glStates: GlStates;
  private budget: { held: ModelBytes; maxBytes: number } | undefined;

  private constructor(
    readonly runtime: GlRuntime,
    readonly plan: Plan,
    private readonly steps: readonly StepInfo[],
    private readonly indexChecks: readonly IndexCheck[],
    /** The states (KV caches) of this model; shared with the models prepared with the same store. */
    readonly state: StateStore,
  ) {
    this.stateNames = stateNames(plan.graph);
    this.glStates = GlStates.acquire(runtime, state);
  }

  /** Checks that every step has a kernel, then uploads weights and constants. */
  static async create(runtime: GlRuntime, plan: Plan, weights: Weights, state: StateStore = new StateStore(), maxMemory?: number): Promise<WebGlModel> {
    const graph = plan.graph;
    checkWeights(graph, weights, new Map());
    const held = staticBytes(plan, weights);
    const budget = maxMemory ?? (await defaultMaxMemory());
    checkMemoryBudget('webgl', held, budget);
    const steps = plan.steps.map((step): StepInfo => {
      const node = graph.nodes[step.node]!;
      return { node, render: glKernelFor(node), sources: node.inputs.map((id) => viewSource(graph, id)) };
    });
    const model = new WebGlModel(runtime, plan, steps, findIndexChecks(graph, steps.map((s) => s.node)), state);
    model.budget = { held, maxBytes: budget };
    try {
      model.uploadStatic(weights);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model;
  }

  run(feeds: Readonly<Record<string, NDArray>>): Promise<Record<string, NDArray>> {
    const result = this.chain.then(() => this.runLocked(feeds));
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** Runs once, draining the GPU after every pass: where the time goes, pass by pass. */
  async profile(feeds: Readonly<Record<string, NDArray>>): Promise<GlPassTiming[]> {
    const timings: GlPassTiming[] = [];
    const result = this.chain.then(() => this.runLocked(feeds, timings));
    this.chain = result.catch(() => undefined);
    await result;
    return timings;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.glStates.release();
    for (const t of this.statics.values()) if (t) this.runtime.release(t);
    this.statics.clear();
    for (const fn of this.uploaders.values()) this.runtime.destroyKernel(fn);
    this.uploaders.clear();
    for (const { kernel } of this.kernels.values()) this.runtime.destroyKernel(kernel.fn);
    this.kernels.clear();
    this.schedules.clear();
  }

  /** Downloads the current value of a state (e.g. a KV cache) from the GPU. */
  async readState(name: string): Promise<NDArray> {
    await this.chain;
    if (this.disposed) throw new WebGlDisposedError();
    const s = this.glStates.get(name);
    if (!s) {
      const host = this.state.get(name);
      if (host) return host;
      throw new InputError(`state '${name}' has no value yet`);
    }
    return toArray(s.dtype, [...s.shape], this.runtime.read(s.tensor));
  }

  /** Compiled kernels this model holds (textures are counted context-wide: `runtime.liveTextures`). */
  get kernelCount(): number {
    return this.kernels.size;
  }

  // --- preparation -------------------------------------------------------------------------------

  private uploadStatic(weights: Weights): void {
    const graph = this.plan.graph;
    for (const node of graph.nodes) {
      if (node.op !== 'param' && node.op !== 'constant') continue;
      const label = tensorLabel(graph, node.id);
      const shape = resolveShape(node.type.shape, new Map());
      const size = sizeOfShape(shape);
      if (size === 0) {
        this.statics.set(node.id, null);
        continue;
      }
      this.runtime.textureShape(size, label); // before the array: a small graph may declare a huge constant
      let data: Float32Array;
      if (node.op === 'param') data = Float32Array.from(weights.get(nodeName(node)!)!.data);
      else {
        const values = node.attrs['values'] as number[];
        data = new Float32Array(size);
        if (values.length === 1) data.fill(values[0]!);
        else data.set(values);
      }
      if (node.type.dtype === 'i32') checkExactIntegers(data, label);
      this.statics.set(node.id, this.upload(data, label));
    }
    // the upload kernels hold a copy of the last tensor of their size; feeds make their own
    for (const fn of this.uploaders.values()) this.runtime.destroyKernel(fn);
    this.uploaders.clear();
  }

  private upload(data: Float32Array, label: string): GlTensor {
    let fn = this.uploaders.get(data.length);
    if (!fn) {
      this.runtime.textureShape(data.length, label);
      fn = this.runtime.uploadKernel(data.length);
      this.uploaders.set(data.length, fn);
    }
    return this.runtime.upload(fn, data);
  }

  // --- running -------------------------------------------------------------------------------------

  private async runLocked(feeds: Readonly<Record<string, NDArray>>, profile?: GlPassTiming[]): Promise<Record<string, NDArray>> {
    if (this.disposed) throw new WebGlDisposedError();
    this.runtime.checkAlive('run');
    const graph = this.plan.graph;
    const bindings = bindInputs(graph, feeds, { optional: this.stateNames });
    if (this.budget) checkMemoryBudget('webgl', this.budget.held, this.budget.maxBytes, { bytes: runBytes(this.plan, bindings), bindings });
    checkIndices(graph, this.indexChecks, feeds, bindings);
    for (const [name, value] of Object.entries(feeds)) if (value.dtype === 'i32') checkExactIntegers(value.data, `input '${name}'`);
    const schedule = this.schedule(bindings);

    const values = new Map<number, GlTensor | null>(this.statics);
    const owned = new Set<GlTensor>();
    try {
      for (const node of graph.nodes) {
        if (node.op !== 'input') continue;
        const name = nodeName(node)!;
        const shape = resolveShape(node.type.shape, bindings);
        if (sizeOfShape(shape) === 0) values.set(node.id, null);
        else if (this.stateNames.has(name)) {
          values.set(node.id, this.glStates.current(name, node.type.dtype, shape, feeds[name], (data) => this.upload(data, `state '${name}'`)));
        } else {
          const t = this.upload(Float32Array.from(feeds[name]!.data), `input '${name}'`);
          owned.add(t);
          values.set(node.id, t);
        }
      }
      this.steps.forEach((s, stepIndex) => {
        const inputs = s.sources.map((id) => values.get(id));
        let last: GlTensor | null = null;
        const drawn: GlTensor[] = [];
        for (const p of schedule.passes[stepIndex]!) {
          const args = p.inputs.map((ref) => ('input' in ref ? inputs[ref.input] : drawn[ref.pass]));
          const start = profile ? performance.now() : 0;
          const out = this.runtime.run(p.kernel, args as GlTensor[], p.size);
          if (profile) {
            this.runtime.finish();
            profile.push({ node: s.node.id, op: s.node.op, what: p.kernel.what, ms: performance.now() - start });
          }
          drawn.push(out);
          last = out;
        }
        for (const t of drawn) if (t !== last) this.runtime.release(t);
        if (last) owned.add(last);
        values.set(s.node.id, last);
        for (const id of new Set(s.sources)) {
          const t = values.get(id);
          if (t && owned.has(t) && schedule.lastUse.get(id) === stepIndex) {
            owned.delete(t);
            this.runtime.release(t);
          }
        }
      });
      const result: Record<string, NDArray> = {};
      for (const o of graph.outputs) {
        const id = viewSource(graph, o.node);
        const node = graph.nodes[o.node]!;
        const shape = resolveShape(node.type.shape, bindings);
        const t = values.get(id) ?? null;
        if (this.stateNames.has(o.name)) {
          if (!t) continue;
          if (owned.has(t)) owned.delete(t);
          else this.runtime.retain(t);
          this.glStates.update(o.name, node.type.dtype, shape, t);
          continue;
        }
        result[o.name] = toArray(node.type.dtype, shape, t ? this.runtime.read(t) : new Float32Array(0));
      }
      return result;
    } finally {
      for (const t of owned) this.runtime.release(t);
    }
  }

  /** Passes and kernels for these symbol values, rendered and compiled once and kept in a small LRU cache. */
  private schedule(bindings: DimBindings): Schedule {
    const key = [...bindings].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(',');
    const cached = this.schedules.get(key);
    if (cached) {
      this.schedules.delete(key);
      this.schedules.set(key, cached);
      return cached;
    }
    const graph = this.plan.graph;
    const info = (id: number): TensorInfo => {
      const n = graph.nodes[id]!;
      return { dtype: n.type.dtype, shape: resolveShape(n.type.shape, bindings), label: tensorLabel(graph, id) };
    };
    const lastUse = new Map<number, number>();
    const passes = this.steps.map((s, stepIndex) => {
      for (const id of s.sources) lastUse.set(id, stepIndex);
      const ctx: KernelContext = { node: s.node, attrs: s.node.attrs as never, inputs: s.node.inputs.map(info), output: info(s.node.id), limits: this.runtime.limits };
      const where = `${s.node.op} (node %${s.node.id}${s.node.source ? ` at ${s.node.source}` : ''})`;
      const rendered = s.render(ctx);
      const sizes: number[] = [];
      return rendered.map((p): ScheduledPass => {
        const inputSizes = p.inputs.map((ref) => ('input' in ref ? sizeOfShape(ctx.inputs[ref.input]!.shape) : sizes[ref.pass]!));
        sizes.push(p.size);
        return { ...this.kernel(p, inputSizes, where), inputs: p.inputs, size: p.size };
      });
    });
    for (const o of graph.outputs) lastUse.set(viewSource(graph, o.node), Infinity);
    const schedule: Schedule = { passes, lastUse };
    this.schedules.set(key, schedule);
    if (this.schedules.size > SCHEDULE_CACHE) this.evict(this.schedules.keys().next().value!);
    return schedule;
  }

  private kernel(p: GlPass, inputSizes: readonly number[], where: string): { key: string; kernel: GlKernel } {
    const key = `${p.size}|${inputSizes.join(',')}|${p.helpers.join('\n')}|${p.body.join('\n')}`;
    let entry = this.kernels.get(key);
    if (!entry) this.kernels.set(key, (entry = { kernel: this.runtime.compile(p, where), schedules: 0 }));
    entry.schedules++;
    return { key, kernel: entry.kernel };
  }

  /** Drops a schedule, and the kernels no other cached schedule uses. */
  private evict(key: string): void {
    const schedule = this.schedules.get(key)!;
    this.schedules.delete(key);
    for (const step of schedule.passes) {
      for (const p of step) {
        const entry = this.kernels.get(p.key)!;
        if (--entry.schedules > 0) continue;
        this.kernels.delete(p.key);
        this.runtime.destroyKernel(entry.kernel.fn);
      }
    }
  }
}

function toArray(dtype: NDArray['dtype'], shape: number[], data: Float32Array): NDArray {
  return { dtype, shape, data: dtype === 'i32' ? Int32Array.from(data) : data };
}

/** i32 values are held as float32: refuse those float32 cannot hold exactly. */
function checkExactIntegers(data: ArrayLike<number>, label: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v > I32_EXACT_LIMIT || v < -I32_EXACT_LIMIT) {
      throw new InputError(`${label} holds ${v} at position ${i}: the webgl backend keeps i32 tensors in float32 textures, exact only within +-${I32_EXACT_LIMIT} (2^24); use the cpu or webgpu backend for larger integers`);
    }
  }
}


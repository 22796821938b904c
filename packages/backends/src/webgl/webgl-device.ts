import type { Plan } from '@loom/compiler';
import { InputError, nodeName, resolveShape, stateNames, type DimBindings, type GraphNode, type NDArray, type Weights } from '@loom/graph';
import { DeviceStates, type StateMemory } from '../gpu/device-states.ts';
import type { GpuDevice } from '../gpu/gpu-program.ts';
import { statusError, tensorLabel, viewSource } from '../index-checks.ts';
import type { StateStore } from '../state-store.ts';
import { WebGlDisposedError, WebGlKernelError } from './errors.ts';
import { foldTransposes, viewOffset, viewStrides, writeStrides, type TransposedWrite, type TransposeView } from './folded-transposes.ts';
import { sizeOfShape, type GlPass, type KernelContext, type PassInput, type TensorInfo } from './kernel.ts';
import { glKernelFor, type AnyGlRenderer } from './kernel-table.ts';
import { checkLoopBudget } from './loops.ts';
import { packTexels, type PackedMatrix, type PackedRead } from './packed.ts';
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
  /** The node each input reads, through reshapes (views of the same texture) and folded transposes. */
  readonly sources: readonly number[];
  /** Inputs read through a folded transpose (folded-transposes.ts), by input index. */
  readonly views?: ReadonlyMap<number, TransposeView>;
  /** The transpose of its result this step writes instead (folded-transposes.ts). */
  readonly writes?: TransposedWrite;
  /** The node whose value the step's texture is: its own, or the transpose it writes. */
  readonly valueNode: number;
}

interface ScheduledPass {
  /** The compiled pass; none for a pass the device does on the host (hostPack). */
  readonly key?: string;
  readonly kernel?: GlKernel;
  /** GlPass.packsInput of a step input fed to the run (the graph input `node`): packed on the host, not drawn. */
  readonly hostPack?: { readonly node: number; readonly shape: readonly number[]; readonly layout: PackedMatrix };
  /** The op, the node and the pass, for profiles and errors (a kernel may be shared with other models). */
  readonly what: string;
  readonly inputs: readonly PassInput[];
  readonly size: number;
  readonly status: boolean;
  /** The step's value: not a status pass, and no later pass of the step reads it. */
  readonly value: boolean;
  /** GlPass.keep: drawn once and kept with the weight or constant it reads (weight-cache.ts). */
  readonly keep: boolean;
  /** The step's value stays packed (its unpacking pass skipped): `read` unpacks it. */
  readonly packed?: PackedRead;
}

/** Everything about a run that depends only on the symbol values: passes and their kernels. */
export interface WebGlSchedule {
  readonly passes: readonly (readonly ScheduledPass[])[];
  /** For each node that holds a run's value, the index of the last step that reads it. */
  readonly lastUse: ReadonlyMap<number, number>;
  /** Fed inputs only host packs read: not uploaded as they are. */
  readonly packedOnHostOnly: ReadonlySet<number>;
}

/** The textures of one run: what each node's value is, which of them the run must free, the status passes' outputs. */
interface RunValues {
  readonly values: Map<number, GlTensor | null>;
  readonly owned: Set<GlTensor>;
  readonly statuses: { readonly node: GraphNode; readonly tensor: GlTensor }[];
  readonly feeds: Readonly<Record<string, NDArray>>;
  /** Fed inputs packed on the host this run, by node, then layout (a feed several products read is packed once). */
  readonly hostPacked: Map<number, Map<string, GlTensor>>;
}

/**
 * One compiled plan's side of a GL context (GpuDevice): weights and constants uploaded once as
 * textures; a run uploads the feeds, draws every pass of every step into textures that stay on the
 * GPU, frees each after its last reader, and reads back only the outputs. States (KV caches) stay
 * on the GPU between runs: a run draws a state's next value into a new texture, which replaces the
 * old one after the run. Kernels are compiled per shape signature and shared by the steps that have it.
 */
export class WebGlDevice implements GpuDevice<WebGlSchedule, GlPassTiming> {
  readonly backend = 'webgl';
  private released = false;
  private readonly statics = new Map<number, GlTensor | null>();
  /** The context's kernels (runtime.kernels) this model's cached schedules use, with how many schedules use each. */
  private readonly kernels = new Map<string, { kernel: GlKernel; schedules: number }>();
  private readonly steps: readonly StepInfo[];
  private readonly stateNames: ReadonlySet<string>;
  /** Nodes whose value only the run's outputs read (no step, no state): they may stay packed (GlPass.unpacks). */
  private readonly readBackOnly: ReadonlySet<number>;
  private readonly states: DeviceStates<GlTensor>;

  constructor(
    readonly runtime: GlRuntime,
    private readonly plan: Plan,
    state: StateStore,
  ) {
    const graph = plan.graph;
    // every step has a kernel before anything is uploaded: an op without one is an error naming it;
    // transposes their readers take as views are not drawn
    const folded = foldTransposes(graph, plan.steps.map((step) => step.node));
    this.steps = plan.steps
      .filter((step) => !folded.dropped.has(step.node))
      .map((step): StepInfo => {
        const node = graph.nodes[step.node]!;
        const views = folded.views.get(node.id);
        const sources = node.inputs.map((id, index) => views?.get(index)?.source ?? viewSource(graph, id));
        const writes = folded.writes.get(node.id);
        return { node, render: glKernelFor(node), sources, ...(views ? { views } : {}), ...(writes ? { writes } : {}), valueNode: writes?.transpose ?? node.id };
      });
    this.stateNames = stateNames(graph);
    const readBySteps = new Set(this.steps.flatMap((s) => s.sources));
    const outputs = graph.outputs.filter((o) => !this.stateNames.has(o.name)).map((o) => viewSource(graph, o.node));
    const stateOutputs = new Set(graph.outputs.filter((o) => this.stateNames.has(o.name)).map((o) => viewSource(graph, o.node)));
    this.readBackOnly = new Set(outputs.filter((id) => !readBySteps.has(id) && !stateOutputs.has(id)));
    this.checkStaticLoops();
    this.states = DeviceStates.acquire(runtime, state, this.stateMemory(), 'WebGlModel.readState');
  }

  /**
   * Steps whose shapes are known at prepare are rendered now and their passes' loops counted, so
   * that a pass past the loop budget is an error at prepare (steps with symbolic sizes are checked
   * when a run first renders them, before anything is drawn).
   */
  private checkStaticLoops(): void {
    const graph = this.plan.graph;
    const known = (id: number) => graph.nodes[id]!.type.shape.every((d) => typeof d === 'number');
    for (const s of this.steps) {
      if (!known(s.node.id) || !s.node.inputs.every(known)) continue;
      const { ctx, where } = this.stepContext(s, new Map());
      for (const p of s.render(ctx)) checkLoopBudget(p, `${where}: ${p.what}`, this.runtime.limits.maxLoopIterations);
    }
  }

  /** What a step's renderer is given for these symbol values, and how messages name the step. */
  private stepContext(s: StepInfo, bindings: DimBindings): { ctx: KernelContext; where: string } {
    const graph = this.plan.graph;
    const info = (id: number): TensorInfo => {
      const n = graph.nodes[id]!;
      return { dtype: n.type.dtype, shape: resolveShape(n.type.shape, bindings), label: tensorLabel(graph, id) };
    };
    const input = (id: number, index: number): TensorInfo => {
      const view = s.views?.get(index);
      if (!view) return info(id);
      const offset = viewOffset(graph, view, bindings);
      return { ...info(id), strides: viewStrides(graph, view, bindings), ...(offset ? { offset } : {}) };
    };
    const output = s.writes ? { ...info(s.node.id), strides: writeStrides(graph, s.writes, bindings) } : info(s.node.id);
    const ctx: KernelContext = { node: s.node, attrs: s.node.attrs as never, inputs: s.node.inputs.map(input), output, limits: this.runtime.limits };
    return { ctx, where: `${s.node.op} (node %${s.node.id}${s.node.source ? ` at ${s.node.source}` : ''})` };
  }

  checkAlive(what: string): void {
    this.runtime.checkAlive(what);
  }

  disposedError(): Error {
    return new WebGlDisposedError();
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.states.release();
    for (const t of this.statics.values()) if (t) this.runtime.weights.release(t);
    this.statics.clear();
    for (const key of this.kernels.keys()) this.runtime.kernels.release(key);
    this.kernels.clear();
  }

  /** Compiled kernels this model holds (textures are counted context-wide: `runtime.liveTextures`). */
  get kernelCount(): number {
    return this.kernels.size;
  }

  async readState(name: string): Promise<NDArray | undefined> {
    const s = this.states.held(name);
    return s ? toArray(s.dtype, [...s.shape], this.runtime.read(s.handle)) : undefined;
  }

  /** i32 values are held as float32: refuse those float32 cannot hold exactly. */
  checkFeeds(feeds: Readonly<Record<string, NDArray>>): void {
    for (const [name, value] of Object.entries(feeds)) if (value.dtype === 'i32') checkExactIntegers(value.data, `input '${name}'`);
  }

  // --- preparation -------------------------------------------------------------------------------

  async upload(weights: Weights): Promise<void> {
    try {
      this.uploadStatics(weights);
    } catch (e) {
      // what was uploaded before the failure goes back (the model is never handed out)
      this.release();
      throw e;
    }
  }

  private uploadStatics(weights: Weights): void {
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
      if (node.op === 'param') {
        const values = weights.get(nodeName(node)!)!.data;
        // the values as given, before float32 rounds 16777217 to 16777216; also when the texture is cached
        if (node.type.dtype === 'i32') checkExactIntegers(values, label);
        // a weight array a model on this context already uploaded (the same contents) is not uploaded again
        this.statics.set(node.id, this.runtime.weights.acquire(values, () => this.uploadTensor(Float32Array.from(values), label)));
        continue;
      }
      const values = node.attrs['values'] as number[];
      if (node.type.dtype === 'i32') checkExactIntegers(values, label);
      const data = new Float32Array(size);
      if (values.length === 1) data.fill(values[0]!);
      else data.set(values);
      this.statics.set(node.id, this.runtime.weights.adopt(this.uploadTensor(data, label)));
    }
  }

  private uploadTensor(data: Float32Array, label: string): GlTensor {
    return this.runtime.upload(data, label);
  }

  /** A state's value is a texture; a new value (fed, or zeros) is a new texture. */
  private stateMemory(): StateMemory<GlTensor> {
    return {
      write: async (name, _dtype, shape, data, previous) => {
        if (previous) this.runtime.release(previous);
        return this.uploadTensor(data ? Float32Array.from(data) : new Float32Array(sizeOfShape(shape)), `state '${name}'`);
      },
      free: (tensor) => this.runtime.release(tensor),
    };
  }

  // --- rendering -----------------------------------------------------------------------------------

  /** Every step's passes for these symbol values, each pass's kernel compiled (or shared with another schedule). */
  render(bindings: DimBindings): WebGlSchedule {
    const graph = this.plan.graph;
    const lastUse = new Map<number, number>();
    // fed inputs some pass reads as they are, or an output is (those are uploaded as they are)
    const readAsFed = new Set(graph.outputs.map((o) => viewSource(graph, o.node)));
    const fed = (id: number) => graph.nodes[id]!.op === 'input' && !this.stateNames.has(nodeName(graph.nodes[id]!)!);
    const hostPacked = new Set<number>();
    const passes = this.steps.map((s, stepIndex) => {
      for (const id of s.sources) lastUse.set(id, stepIndex);
      const { ctx, where } = this.stepContext(s, bindings);
      let rendered = s.render(ctx);
      // a result only read back skips its unpacking pass: the read unpacks it
      const unpacking = rendered[rendered.length - 1]?.unpacks;
      const packedValue = unpacking && this.readBackOnly.has(s.valueNode) ? unpacking : undefined;
      if (packedValue) rendered = rendered.slice(0, -1);
      const readLater = new Set(rendered.flatMap((p) => p.inputs.flatMap((ref) => ('pass' in ref ? [ref.pass] : []))));
      const sizes: number[] = [];
      return rendered.map((p, index): ScheduledPass => {
        const inputSizes = p.inputs.map((ref) => ('input' in ref ? sizeOfShape(ctx.inputs[ref.input]!.shape) : sizes[ref.pass]!));
        const rgbaInputs = p.inputs.map((ref) => 'pass' in ref && rendered[ref.pass]!.texels !== undefined);
        sizes.push(p.size);
        const status = p.status === true;
        const value = !status && !readLater.has(index);
        // a kept result is shared by runs (and models): it may not be what a run owns and frees
        if (p.keep && value) throw new WebGlKernelError(`${where}: ${p.what} is marked keep but is the step's value (a renderer bug)`);
        const packed = value && packedValue?.from === index ? { layout: packedValue.layout, shape: packedValue.shape } : undefined;
        const common = { what: `${where}: ${p.what}`, inputs: p.inputs, size: p.size, status, value, keep: p.keep === true, ...(packed ? { packed } : {}) };
        const source = (ref: PassInput) => ('input' in ref ? s.sources[ref.input]! : undefined);
        const packedNode = p.packsInput && !value && !status && p.inputs.length === 1 ? source(p.inputs[0]!) : undefined;
        if (packedNode !== undefined && fed(packedNode)) {
          hostPacked.add(packedNode);
          return { ...common, hostPack: { node: packedNode, shape: p.packsInput!.shape, layout: p.packsInput!.layout } };
        }
        for (const ref of p.inputs) if (source(ref) !== undefined) readAsFed.add(source(ref)!);
        return { ...this.kernel(p, inputSizes, rgbaInputs, where), ...common };
      });
    });
    for (const o of graph.outputs) lastUse.set(viewSource(graph, o.node), Infinity);
    return { passes, lastUse, packedOnHostOnly: new Set([...hostPacked].filter((id) => !readAsFed.has(id))) };
  }

  private kernel(p: GlPass, inputSizes: readonly number[], rgbaInputs: readonly boolean[], where: string): { key: string; kernel: GlKernel } {
    const key = `${p.texels?.join('x') ?? p.size}|${inputSizes.map((n, k) => (rgbaInputs[k] ? `${n}rgba` : n)).join(',')}|${p.helpers.join('\n')}|${p.body.join('\n')}`;
    let entry = this.kernels.get(key);
    if (!entry) this.kernels.set(key, (entry = { kernel: this.runtime.kernels.acquire(key, p, where, rgbaInputs), schedules: 0 }));
    entry.schedules++;
    return { key, kernel: entry.kernel };
  }

  /** A schedule left the cache: its kernels that no other cached schedule uses go back to the context's cache. */
  forget(schedule: WebGlSchedule): void {
    for (const step of schedule.passes) {
      for (const p of step) {
        if (p.key === undefined) continue;
        const entry = this.kernels.get(p.key)!;
        if (--entry.schedules > 0) continue;
        this.kernels.delete(p.key);
        this.runtime.kernels.release(p.key);
      }
    }
  }

  // --- running -------------------------------------------------------------------------------------

  async execute(schedule: WebGlSchedule, feeds: Readonly<Record<string, NDArray>>, bindings: DimBindings, profile: GlPassTiming[] | undefined): Promise<Record<string, NDArray>> {
    const run: RunValues = { values: new Map(this.statics), owned: new Set(), statuses: [], feeds, hostPacked: new Map() };
    try {
      await this.placeInputs(run, schedule, bindings);
      this.draw(run, schedule, profile);
      this.checkStatuses(run);
      return this.readOutputs(run, bindings);
    } finally {
      for (const t of run.owned) this.runtime.release(t);
    }
  }

  /** The feeds uploaded (the run owns them; those only host packs read are not) and the states' current textures. */
  private async placeInputs(run: RunValues, schedule: WebGlSchedule, bindings: DimBindings): Promise<void> {
    const feeds = run.feeds;
    for (const node of this.plan.graph.nodes) {
      if (node.op !== 'input') continue;
      const name = nodeName(node)!;
      const shape = resolveShape(node.type.shape, bindings);
      if (sizeOfShape(shape) === 0) run.values.set(node.id, null);
      else if (schedule.packedOnHostOnly.has(node.id)) continue;
      else if (this.stateNames.has(name)) run.values.set(node.id, await this.states.forRun(name, node.type.dtype, shape, feeds[name]));
      else {
        const t = this.uploadTensor(Float32Array.from(feeds[name]!.data), `input '${name}'`);
        run.owned.add(t);
        run.values.set(node.id, t);
      }
    }
  }

  /** Every pass of every step; a step's value is its value pass's texture (ScheduledPass.value), freed after its last reader. */
  private draw(run: RunValues, schedule: WebGlSchedule, profile: GlPassTiming[] | undefined): void {
    this.steps.forEach((s, stepIndex) => {
      const inputs = s.sources.map((id) => run.values.get(id));
      let last: GlTensor | null = null;
      const drawn: GlTensor[] = [];
      for (const p of schedule.passes[stepIndex]!) {
        const args = p.inputs.map((ref) => ('input' in ref ? inputs[ref.input] : drawn[ref.pass]));
        if (p.hostPack) {
          const start = profile ? performance.now() : 0;
          drawn.push(this.packOnHost(run, p.hostPack, p.what));
          if (profile) profile.push({ node: s.node.id, op: s.node.op, what: `${p.what} on the host`, ms: performance.now() - start });
          continue;
        }
        const launch = (): GlTensor => {
          const start = profile ? performance.now() : 0;
          const result = this.runtime.launch(p.kernel!, args as GlTensor[], p.size, p.what);
          if (profile) {
            this.runtime.finish(result);
            profile.push({ node: s.node.id, op: s.node.op, what: p.what, ms: performance.now() - start });
          }
          return result;
        };
        // a pass worth keeping over a weight or constant is drawn once, for every model using it
        const weight = p.keep && args.length === 1 && args[0] && this.runtime.weights.has(args[0]) ? args[0] : undefined;
        const out = weight ? this.runtime.weights.derived(weight, p.key!, launch, (t) => this.runtime.retain(t)) : launch();
        drawn.push(out);
        if (p.status) {
          run.owned.add(out);
          run.statuses.push({ node: s.node, tensor: out });
        } else if (p.value) {
          last = out;
          out.packed = p.packed;
        }
      }
      for (const t of drawn) if (t !== last && !run.owned.has(t)) this.runtime.release(t);
      if (last) run.owned.add(last);
      run.values.set(s.valueNode, last);
      for (const id of new Set(s.sources)) {
        if (schedule.lastUse.get(id) !== stepIndex) continue;
        const t = run.values.get(id);
        if (t && run.owned.has(t)) {
          run.owned.delete(t);
          this.runtime.release(t);
        }
        for (const packed of run.hostPacked.get(id)?.values() ?? []) {
          run.owned.delete(packed);
          this.runtime.release(packed);
        }
        run.hostPacked.delete(id);
      }
    });
  }

  /**
   * A fed matrix packed on the host and uploaded as RGBA texels (GlPass.packsInput), for the step
   * that draws next; packed once a run per layout, however many products read it (the run owns it,
   * so no step releases it before the input's last reader has run).
   */
  private packOnHost(run: RunValues, { node, shape, layout }: NonNullable<ScheduledPass['hostPack']>, what: string): GlTensor {
    const key = `${layout.width}x${layout.height}|${shape.join(',')}`;
    const layouts = run.hostPacked.get(node) ?? new Map<string, GlTensor>();
    run.hostPacked.set(node, layouts);
    let packed = layouts.get(key);
    if (!packed) {
      const feed = run.feeds[nodeName(this.plan.graph.nodes[node]!)!]!;
      packed = this.runtime.uploadTexels4(packTexels(feed.data, shape, layout), [layout.width, layout.height], what);
      layouts.set(key, packed);
      run.owned.add(packed);
    }
    return packed;
  }

  /** Status passes (indices a kernel found bad: count, first position) read back: the first with a count is an InputError. */
  private checkStatuses(run: RunValues): void {
    for (const { node, tensor } of run.statuses) {
      const [bad, first] = this.runtime.read(tensor);
      if (bad! > 0) throw statusError(this.plan.graph, node, bad!, first!);
    }
  }

  /** Outputs read back; a state output's texture becomes the state's value (the run no longer owns it). */
  private readOutputs(run: RunValues, bindings: DimBindings): Record<string, NDArray> {
    const graph = this.plan.graph;
    const result: Record<string, NDArray> = {};
    for (const o of graph.outputs) {
      const node = graph.nodes[o.node]!;
      const shape = resolveShape(node.type.shape, bindings);
      const t = run.values.get(viewSource(graph, o.node)) ?? null;
      if (this.stateNames.has(o.name)) {
        if (!t) continue;
        if (run.owned.has(t)) run.owned.delete(t);
        else this.runtime.retain(t);
        this.states.replace(o.name, node.type.dtype, shape, t);
        continue;
      }
      result[o.name] = toArray(node.type.dtype, shape, t ? this.runtime.read(t) : new Float32Array(0));
    }
    return result;
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

import type { Plan, PlanBuffer, PlanStep } from '@loom/compiler';
import {
  bindInputs,
  checkWeights,
  formatShape,
  InputError,
  nodeName,
  resolveDim,
  resolveShape,
  stateNames,
  type DimBindings,
  type Graph,
  type GraphNode,
  type NDArray,
  type Weights,
} from '@loom/graph';
import type { PreparedModel } from '../backend.ts';
import { checkIndices, findIndexChecks, tensorLabel, type IndexCheck } from '../index-checks.ts';
import { StateStore } from '../state-store.ts';
import { GpuStates } from './gpu-states.ts';
import { GpuLimitError, KernelError, ModelDisposedError } from './errors.ts';
import { checkMemoryBudget, defaultMaxMemory, runBytes, staticBytes, type ModelBytes } from '../memory-budget.ts';
import { sizeOfShape, statusSlots, type AnyKernelRenderer, type KernelContext, type KernelLaunch, type KernelSource, type StorageBinding, type TensorInfo } from './kernel.ts';
import { stepContext } from './step-context.ts';
import { BufferUsage, formatBytes, type GpuRuntime, type LayoutSignature } from './runtime.ts';

export interface WebGpuModelOptions {
  /** The renderer of each step's launches. */
  readonly kernels: KernelSource;
  /** The states (KV caches); shared with the models prepared with the same store. */
  readonly state?: StateStore;
  /** Bytes the model and a run may hold (default: 3/4 of the machine's memory). */
  readonly maxMemory?: number;
}

/** What one model holds on the GPU right now (for leak tests and reports). */
export interface WebGpuMemoryStats {
  readonly buffers: number;
  readonly bytes: number;
}

/** One kernel launch's wall time in `WebGpuModel.profile`. */
export interface KernelTiming {
  readonly node: number;
  readonly op: string;
  readonly workgroups: number[];
  readonly ms: number;
}

interface StepInfo {
  readonly step: PlanStep;
  readonly node: GraphNode;
  readonly render: AnyKernelRenderer;
  /** Slot in the status buffer, or -1. */
  readonly statusSlot: number;
}


interface ScheduledLaunch {
  readonly stepIndex: number;
  readonly launch: KernelLaunch;
  readonly pipeline: GPUComputePipeline;
  readonly signature: LayoutSignature;
  readonly uniformOffset: number;
  /** Byte range bound for each storage binding. */
  readonly ranges: readonly { offset: number; size: number }[];
}

interface OutputSlot {
  readonly name: string;
  readonly buffer: number;
  readonly dtype: 'f32' | 'i32';
  readonly shape: number[];
  readonly bytes: number;
  readonly stagingOffset: number;
}

/** Everything about a run that depends only on the symbol values: launches, pipelines, sizes. */
interface Schedule {
  readonly key: string;
  readonly launches: readonly ScheduledLaunch[];
  readonly uniformData: Uint8Array;
  readonly bufferBytes: readonly number[];
  readonly outputs: readonly OutputSlot[];
  readonly stagingBytes: number;
  bindGroups: GPUBindGroup[] | undefined;
  boundGeneration: string;
  validated: boolean;
}

const SCHEDULE_CACHE = 8;
const STATUS_WORDS = 2;
const POOL_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC;

/**
 * A compiled plan on one GPU device. The buffer pool follows the plan's buffers: each is allocated at
 * the size its symbolic Dim resolves to for a run, kept between runs and grown when a run needs more.
 * Weights and constants are uploaded once. Each run encodes every kernel into one command encoder
 * and reads back only the outputs (plus a few status words when a kernel reports bad data).
 */
export class WebGpuModel implements PreparedModel {
  private disposed = false;
  private readonly pool: (GPUBuffer | undefined)[];
  private readonly owned = new Set<GPUBuffer>();
  private uniform: GPUBuffer | undefined;
  private staging: GPUBuffer | undefined;
  private status: GPUBuffer | undefined;
  private generation = 0;
  private readonly schedules = new Map<string, Schedule>();
  private chain: Promise<unknown> = Promise.resolve();
  private readonly statusSlots: number;
  private readonly stateNames: ReadonlySet<string>;
  private readonly gpuStates: GpuStates;
  private budget: { held: ModelBytes; maxBytes: number } | undefined;

  private constructor(
    readonly runtime: GpuRuntime,
    readonly plan: Plan,
    private readonly steps: readonly StepInfo[],
    private readonly indexChecks: readonly IndexCheck[],
    /** The states (KV caches) of this model; shared with the models prepared with the same store. */
    readonly state: StateStore,
  ) {
    this.pool = plan.buffers.map(() => undefined);
    this.statusSlots = steps.filter((s) => s.statusSlot >= 0).length;
    this.stateNames = stateNames(plan.graph);
    this.gpuStates = GpuStates.acquire(runtime, state);
  }

  /**
   * Checks that every step has a kernel (`kernels`: the renderers by node, `kernelFor` for the
   * backend, the stored launches for an exported module), then uploads weights and constants.
   */
  static async create(runtime: GpuRuntime, plan: Plan, weights: Weights, options: WebGpuModelOptions): Promise<WebGpuModel> {
    const { state = new StateStore(), maxMemory, kernels } = options;
    const graph = plan.graph;
    checkWeights(graph, weights, new Map());
    // the budget before any upload (WebGPU tells no device memory size: the machine's is the default)
    const held = staticBytes(plan, weights);
    const budget = maxMemory ?? (await defaultMaxMemory());
    checkMemoryBudget('webgpu', held, budget);
    const slots = statusSlots(plan);
    const steps = plan.steps.map((step, k): StepInfo => {
      const node = graph.nodes[step.node]!;
      return { step, node, render: kernels(node, k), statusSlot: slots[k]! };
    });
    const model = new WebGpuModel(runtime, plan, steps, findIndexChecks(graph, steps.map((s) => s.node)), state);
    model.budget = { held, maxBytes: budget };
    try {
      await model.uploadStatic(weights);
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

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.gpuStates.release();
    for (const b of this.owned) this.runtime.destroyBuffer(b);
    this.owned.clear();
    this.pool.fill(undefined);
    this.schedules.clear();
    this.uniform = this.staging = this.status = undefined;
  }

  /** Downloads the current value of a state (e.g. a KV cache) from the GPU. */
  async readState(name: string): Promise<NDArray> {
    await this.chain;
    if (this.disposed) throw new ModelDisposedError();
    const s = this.gpuStates.get(name);
    if (!s || this.state.get(name) !== s.placeholder) {
      const host = this.state.get(name);
      if (host) return host;
      throw new InputError(`state '${name}' has no value yet`);
    }
    const bytes = sizeOfShape(s.shape) * 4;
    const [staging] = await this.runtime.createBuffers([{ size: Math.max(16, align(bytes, 4)), usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST, label: `read state '${name}'` }]);
    try {
      const encoder = this.runtime.device.createCommandEncoder();
      if (bytes > 0) encoder.copyBufferToBuffer(s.buffer, 0, staging!, 0, bytes);
      this.runtime.device.queue.submit([encoder.finish()]);
      const data = await this.runtime.readBuffer(staging!, Math.max(4, bytes));
      return { dtype: s.dtype, shape: [...s.shape], data: s.dtype === 'i32' ? new Int32Array(data, 0, bytes / 4) : new Float32Array(data, 0, bytes / 4) };
    } finally {
      this.runtime.destroyBuffer(staging!);
    }
  }

  /** GPU buffers and bytes this model holds now (not counting shared state buffers). */
  memory(): WebGpuMemoryStats {
    let bytes = 0;
    for (const b of this.owned) bytes += b.size;
    return { buffers: this.owned.size, bytes };
  }

  // --- preparation -------------------------------------------------------------------------------

  private async uploadStatic(weights: Weights): Promise<void> {
    const graph = this.plan.graph;
    const staticBuffers = this.plan.buffers.filter((b) => b.kind === 'param' || b.kind === 'constant');
    const data = staticBuffers.map((b): Float32Array | Int32Array => {
      if (b.kind === 'param') return toTyped(weights.get(b.name!)!);
      const node = graph.nodes.find((n) => n.op === 'constant' && this.plan.nodeBuffer[n.id] === b.id)!;
      const values = node.attrs['values'] as number[];
      const size = resolveDim(b.size, new Map());
      this.checkBufferSize(b, size * 4); // before the array: a small graph may declare a huge constant
      const array = b.dtype === 'i32' ? new Int32Array(size) : new Float32Array(size);
      if (values.length === 1) array.fill(values[0]!);
      else array.set(values);
      return array;
    });
    const sizes = data.map((d, i) => this.checkBufferSize(staticBuffers[i]!, d.byteLength));
    const buffers = await this.allocate(staticBuffers.map((b, i) => ({ size: sizes[i]!, label: bufferLabel(b) })));
    staticBuffers.forEach((b, i) => {
      this.pool[b.id] = buffers[i]!;
      if (data[i]!.byteLength > 0) this.runtime.device.queue.writeBuffer(buffers[i]!, 0, data[i]! as unknown as GPUAllowSharedBufferSource);
    });
    if (this.statusSlots > 0) [this.status] = await this.allocate([{ size: this.statusSlots * STATUS_WORDS * 4, label: 'loom status' }]);
  }

  private checkBufferSize(b: PlanBuffer, bytes: number): number {
    if (bytes > this.runtime.limits.maxBufferSize) {
      throw new GpuLimitError(`${bufferLabel(b)} needs ${formatBytes(bytes)}, more than the device's maxBufferSize (${formatBytes(this.runtime.limits.maxBufferSize)})`);
    }
    return Math.max(16, align(bytes, 4));
  }

  private async allocate(requests: readonly { size: number; label: string; usage?: number }[]): Promise<GPUBuffer[]> {
    const buffers = await this.runtime.createBuffers(requests.map((r) => ({ size: r.size, label: r.label, usage: r.usage ?? POOL_USAGE })));
    for (const b of buffers) this.owned.add(b);
    return buffers;
  }

  private release(buffer: GPUBuffer | undefined): void {
    if (!buffer || !this.owned.delete(buffer)) return;
    this.runtime.destroyBuffer(buffer);
  }

  // --- running -------------------------------------------------------------------------------------

  /**
   * Runs once with each kernel submitted and timed on its own (slower than `run`, which encodes
   * everything into one command buffer): where the time goes, kernel by kernel.
   */
  async profile(feeds: Readonly<Record<string, NDArray>>): Promise<KernelTiming[]> {
    const timings: KernelTiming[] = [];
    const result = this.chain.then(() => this.runLocked(feeds, timings));
    this.chain = result.catch(() => undefined);
    await result;
    return timings;
  }

  private async runLocked(feeds: Readonly<Record<string, NDArray>>, profile?: KernelTiming[]): Promise<Record<string, NDArray>> {
    if (this.disposed) throw new ModelDisposedError();
    this.runtime.checkAlive('run');
    const graph = this.plan.graph;
    const bindings = bindInputs(graph, feeds, { optional: this.stateNames });
    if (this.budget) checkMemoryBudget('webgpu', this.budget.held, this.budget.maxBytes, { bytes: runBytes(this.plan, bindings), bindings });
    this.checkIndices(feeds, bindings);
    const schedule = await this.schedule(bindings);
    await this.ensureBuffers(schedule);
    const clears: GPUBuffer[] = [];
    for (const b of this.plan.buffers) {
      if (b.kind !== 'state') continue;
      const node = graph.nodes.find((n) => n.op === 'input' && nodeName(n) === b.name)!;
      const { state, clear } = await this.gpuStates.prepare(b.name!, b.dtype, resolveShape(node.type.shape, bindings), feeds[b.name!]);
      this.pool[b.id] = state.buffer;
      if (clear) clears.push(state.buffer);
    }
    if (this.disposed) throw new ModelDisposedError();
    const device = this.runtime.device;
    const generation = `${this.generation}/${this.gpuStates.version}`;
    const validate = !schedule.validated || schedule.boundGeneration !== generation;
    if (validate) device.pushErrorScope('validation');
    const groups = this.bindGroups(schedule, generation);

    for (const b of this.plan.buffers) {
      if (b.kind !== 'input') continue;
      const data = toTyped(feeds[b.name!]!);
      if (data.byteLength > 0) device.queue.writeBuffer(this.pool[b.id]!, 0, data as unknown as GPUAllowSharedBufferSource);
    }
    if (schedule.uniformData.byteLength > 0) device.queue.writeBuffer(this.uniform!, 0, schedule.uniformData as unknown as GPUAllowSharedBufferSource);
    if (this.status) device.queue.writeBuffer(this.status, 0, statusReset(this.statusSlots) as unknown as GPUAllowSharedBufferSource);

    let encoder = device.createCommandEncoder({ label: 'loom run' });
    for (const buffer of clears) encoder.clearBuffer(buffer);
    if (!profile) {
      const pass = encoder.beginComputePass();
      schedule.launches.forEach((l, i) => {
        pass.setPipeline(l.pipeline);
        pass.setBindGroup(0, groups[i]!);
        pass.dispatchWorkgroups(...l.launch.workgroups);
      });
      pass.end();
    } else {
      // profiling: one submission per launch, timed on the host until the queue drains
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      for (const [i, l] of schedule.launches.entries()) {
        const start = performance.now();
        const one = device.createCommandEncoder();
        const pass = one.beginComputePass();
        pass.setPipeline(l.pipeline);
        pass.setBindGroup(0, groups[i]!);
        pass.dispatchWorkgroups(...l.launch.workgroups);
        pass.end();
        device.queue.submit([one.finish()]);
        await device.queue.onSubmittedWorkDone();
        const node = this.steps[l.stepIndex]!.node;
        profile.push({ node: node.id, op: node.op, workgroups: [...l.launch.workgroups], ms: performance.now() - start });
      }
      encoder = device.createCommandEncoder();
    }
    for (const o of schedule.outputs) if (o.bytes > 0) encoder.copyBufferToBuffer(this.pool[o.buffer]!, 0, this.staging!, o.stagingOffset, o.bytes);
    const statusOffset = schedule.stagingBytes - this.statusSlots * STATUS_WORDS * 4;
    if (this.status) encoder.copyBufferToBuffer(this.status, 0, this.staging!, statusOffset, this.statusSlots * STATUS_WORDS * 4);
    device.queue.submit([encoder.finish()]);
    if (validate) {
      const error = await device.popErrorScope();
      if (error) {
        this.runtime.checkAlive('run');
        throw new KernelError(`a kernel failed validation (a renderer bug): ${error.message}`);
      }
      schedule.validated = true;
    }

    let bytes: ArrayBuffer;
    try {
      bytes = await this.runtime.readBuffer(this.staging!, schedule.stagingBytes);
    } catch (e) {
      if (this.disposed) throw new ModelDisposedError();
      throw await this.runtime.explainFailure('reading results', e);
    }
    if (this.status) this.checkStatus(new Uint32Array(bytes, statusOffset, this.statusSlots * STATUS_WORDS));
    const result: Record<string, NDArray> = {};
    for (const o of schedule.outputs) {
      const n = sizeOfShape(o.shape);
      const data = o.dtype === 'i32' ? new Int32Array(bytes.slice(o.stagingOffset, o.stagingOffset + n * 4)) : new Float32Array(bytes.slice(o.stagingOffset, o.stagingOffset + n * 4));
      result[o.name] = { dtype: o.dtype, shape: o.shape, data };
    }
    return result;
  }

  /** Launches for these symbol values, rendered and compiled once and kept in a small LRU cache. */
  private async schedule(bindings: DimBindings): Promise<Schedule> {
    const key = [...bindings].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(',');
    const cached = this.schedules.get(key);
    if (cached) {
      this.schedules.delete(key);
      this.schedules.set(key, cached);
      return cached;
    }
    const graph = this.plan.graph;
    const limits = this.runtime.limits;
    const rendered: { stepIndex: number; launch: KernelLaunch; ranges: { offset: number; size: number }[]; what: string }[] = [];
    this.steps.forEach((s, stepIndex) => {
      const ctx = stepContext(this.plan, s.step, s.statusSlot, bindings, limits);
      const what = `${s.node.op} (node %${s.node.id}${s.node.source ? ` at ${s.node.source}` : ''})`;
      for (const launch of s.render(ctx)) {
        if (launch.bindings.length + 0 > limits.maxStorageBuffersPerShaderStage) {
          throw new GpuLimitError(`${what}: ${launch.bindings.length} storage buffers exceed the device's ${limits.maxStorageBuffersPerShaderStage} per kernel`);
        }
        const ranges = launch.bindings.map((b) => this.bindingRange(b, ctx, what));
        rendered.push({ stepIndex, launch, ranges, what });
      }
    });
    const align256 = limits.minUniformBufferOffsetAlignment;
    let uniformBytes = 0;
    const offsets = rendered.map((r) => {
      const offset = uniformBytes;
      uniformBytes = align(offset + r.launch.params.byteLength, align256);
      return offset;
    });
    const uniformData = new Uint8Array(uniformBytes);
    rendered.forEach((r, i) => uniformData.set(new Uint8Array(r.launch.params.buffer, r.launch.params.byteOffset, r.launch.params.byteLength), offsets[i]!));
    const launches = await Promise.all(
      rendered.map(async (r, i): Promise<ScheduledLaunch> => {
        const signature = r.launch.bindings.map((b) => ('input' in b.buffer ? 'r' : 'w')).join('') + 'u';
        const pipeline = await this.runtime.pipeline(r.launch.wgsl, signature, r.what);
        return { stepIndex: r.stepIndex, launch: r.launch, pipeline, signature, uniformOffset: offsets[i]!, ranges: r.ranges };
      }),
    );
    const bufferBytes = this.plan.buffers.map((b) => resolveDim(b.size, bindings) * 4);
    let stagingBytes = 0;
    const outputs = graph.outputs.filter((o) => !this.stateNames.has(o.name)).map((o): OutputSlot => {
      const node = graph.nodes[o.node]!;
      const shape = resolveShape(node.type.shape, bindings);
      const bytes = sizeOfShape(shape) * 4;
      const slot: OutputSlot = { name: o.name, buffer: this.plan.nodeBuffer[o.node]!, dtype: node.type.dtype, shape, bytes, stagingOffset: stagingBytes };
      stagingBytes = align(stagingBytes + bytes, 8);
      return slot;
    });
    stagingBytes += this.statusSlots * STATUS_WORDS * 4;
    const schedule: Schedule = { key, launches, uniformData, bufferBytes, outputs, stagingBytes: Math.max(stagingBytes, 8), bindGroups: undefined, boundGeneration: '', validated: false };
    this.schedules.set(key, schedule);
    if (this.schedules.size > SCHEDULE_CACHE) this.schedules.delete(this.schedules.keys().next().value!);
    return schedule;
  }

  /** The byte range a storage binding covers; a whole tensor must fit one binding. */
  private bindingRange(b: StorageBinding, ctx: KernelContext, what: string): { offset: number; size: number } {
    const limit = this.runtime.limits.maxStorageBufferBindingSize;
    if (b.size !== undefined) return { offset: b.offset ?? 0, size: b.size };
    let tensor: TensorInfo | undefined;
    let bytes: number;
    if ('status' in b.buffer) bytes = this.statusSlots * STATUS_WORDS * 4;
    else {
      tensor = 'input' in b.buffer ? ctx.inputs[b.buffer.input]! : ctx.output;
      bytes = sizeOfShape(tensor.shape) * 4;
    }
    if (bytes > limit) {
      throw new GpuLimitError(
        `${what}: tensor ${tensor?.label ?? 'status'} ${tensor ? formatShape(tensor.shape) : ''} needs ${formatBytes(bytes)}, more than the device's maxStorageBufferBindingSize (${formatBytes(limit)}) that one kernel can bind`,
      );
    }
    return { offset: b.offset ?? 0, size: Math.max(4, align(bytes, 4)) };
  }

  /** Allocates or grows pool buffers, the uniform buffer and the staging buffer for the schedule. */
  private async ensureBuffers(schedule: Schedule): Promise<void> {
    const grow: { id: number; size: number; label: string }[] = [];
    this.plan.buffers.forEach((b, id) => {
      if (b.kind === 'param' || b.kind === 'constant' || b.kind === 'state') return;
      const need = this.checkBufferSize(b, schedule.bufferBytes[id]!);
      const have = this.pool[id]?.size ?? 0;
      if (need > have) grow.push({ id, size: Math.min(Math.max(need, align(Math.floor(have * 1.5), 256)), Math.max(need, this.runtime.limits.maxBufferSize)), label: bufferLabel(b) });
    });
    const uniformNeed = Math.max(256, schedule.uniformData.byteLength);
    const stagingNeed = align(schedule.stagingBytes, 256);
    const growUniform = (this.uniform?.size ?? 0) < uniformNeed;
    const growStaging = (this.staging?.size ?? 0) < stagingNeed;
    if (grow.length === 0 && !growUniform && !growStaging) return;
    const requests = grow.map((g) => ({ size: g.size, label: g.label }));
    if (growUniform) requests.push({ size: uniformNeed, label: 'loom params', usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST } as never);
    if (growStaging) requests.push({ size: stagingNeed, label: 'loom readback', usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST } as never);
    const created = await this.allocate(requests);
    grow.forEach((g, i) => {
      this.release(this.pool[g.id]);
      this.pool[g.id] = created[i]!;
    });
    let next = grow.length;
    if (growUniform) {
      this.release(this.uniform);
      this.uniform = created[next++]!;
    }
    if (growStaging) {
      this.release(this.staging);
      this.staging = created[next++]!;
    }
    if (grow.length > 0 || growUniform) this.generation++;
  }

  private bindGroups(schedule: Schedule, generation: string): GPUBindGroup[] {
    if (schedule.bindGroups && schedule.boundGeneration === generation) return schedule.bindGroups;
    const device = this.runtime.device;
    schedule.bindGroups = schedule.launches.map((l) => {
      const step = this.steps[l.stepIndex]!.step;
      const entries: GPUBindGroupEntry[] = l.launch.bindings.map((b, binding) => {
        const buffer = 'input' in b.buffer ? this.pool[step.inputs[b.buffer.input]!]! : 'output' in b.buffer ? this.pool[step.output]! : this.status!;
        return { binding, resource: { buffer, offset: l.ranges[binding]!.offset, size: l.ranges[binding]!.size } };
      });
      entries.push({ binding: entries.length, resource: { buffer: this.uniform!, offset: l.uniformOffset, size: l.launch.params.byteLength } });
      return device.createBindGroup({ layout: this.runtime.bindGroupLayout(l.signature), entries });
    });
    schedule.boundGeneration = generation;
    return schedule.bindGroups;
  }

  // --- data checks -----------------------------------------------------------------------------------

  private checkIndices(feeds: Readonly<Record<string, NDArray>>, bindings: DimBindings): void {
    checkIndices(this.plan.graph, this.indexChecks, feeds, bindings);
  }

  private checkStatus(words: Uint32Array): void {
    for (const s of this.steps) {
      if (s.statusSlot < 0) continue;
      const bad = words[s.statusSlot * STATUS_WORDS]!;
      if (bad === 0) continue;
      const first = words[s.statusSlot * STATUS_WORDS + 1]!;
      const tensor = tensorLabel(this.plan.graph, s.node.inputs[0]!);
      const at = `${s.node.op} (node %${s.node.id}${s.node.source ? ` at ${s.node.source}` : ''})`;
      if (s.node.op === 'gather') throw new InputError(`${at}: ${bad} indices outside the rows of ${tensor}, the first at position ${first}`);
      throw new InputError(`${at}: the position of row ${first} does not fit the update into ${tensor}`);
    }
  }
}

function statusReset(slots: number): Uint32Array {
  const words = new Uint32Array(slots * STATUS_WORDS);
  for (let s = 0; s < slots; s++) words[s * STATUS_WORDS + 1] = 0xffffffff;
  return words;
}

function toTyped(a: NDArray): Float32Array | Int32Array {
  if (a.dtype === 'i32') return a.data instanceof Int32Array ? a.data : Int32Array.from(a.data);
  return a.data instanceof Float32Array ? a.data : Float32Array.from(a.data);
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function bufferLabel(b: PlanBuffer): string {
  if (b.kind === 'param') return `weight '${b.name}'`;
  if (b.kind === 'input') return `input '${b.name}'`;
  return `${b.kind} buffer #${b.id} (${b.dtype}, ${b.size} elements)`;
}

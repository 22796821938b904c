import type { Plan, PlanBuffer, PlanStep } from '@loom/compiler';
import { formatShape, nodeName, resolveDim, resolveShape, stateNames, type DimBindings, type GraphNode, type NDArray, type Weights } from '@loom/graph';
import { DeviceStates, type StateMemory } from '../gpu/device-states.ts';
import type { GpuDevice } from '../gpu/gpu-program.ts';
import { statusError } from '../index-checks.ts';
import type { StateStore } from '../state-store.ts';
import { WebGpuLimitError, KernelError, ModelDisposedError } from './errors.ts';
import { sizeOfShape, statusSlots, type AnyKernelRenderer, type KernelContext, type KernelLaunch, type KernelSource, type StorageBinding, type TensorInfo } from './kernel.ts';
import { BufferUsage, formatBytes, type GpuRuntime, type LayoutSignature } from './runtime.ts';
import { stepContext } from './step-context.ts';

/** One kernel launch's wall time in `WebGpuModel.profile`. */
export interface KernelTiming {
  readonly node: number;
  readonly op: string;
  readonly workgroups: number[];
  readonly ms: number;
}

/** What one model holds on the GPU right now (for leak tests and reports). */
export interface WebGpuMemoryStats {
  readonly buffers: number;
  readonly bytes: number;
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
export interface WebGpuSchedule {
  readonly launches: readonly ScheduledLaunch[];
  readonly uniformData: Uint8Array;
  readonly bufferBytes: readonly number[];
  readonly outputs: readonly OutputSlot[];
  readonly stagingBytes: number;
  bindGroups: GPUBindGroup[] | undefined;
  boundGeneration: string;
  validated: boolean;
}

const STATUS_WORDS = 2;
const POOL_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC;

/**
 * One compiled plan's side of a WebGPU device (GpuDevice): the buffer pool follows the plan's
 * buffers, each allocated at the size its symbolic Dim resolves to for a run, kept between runs and
 * grown when a run needs more. Weights and constants are uploaded once. A run places the states,
 * writes the inputs and parameter blocks, encodes every launch into one command encoder and reads
 * back only the outputs (plus a few status words when a kernel reports bad data).
 */
export class WebGpuDevice implements GpuDevice<WebGpuSchedule, KernelTiming> {
  readonly backend = 'webgpu';
  private released = false;
  private readonly pool: (GPUBuffer | undefined)[];
  private readonly owned = new Set<GPUBuffer>();
  private uniform: GPUBuffer | undefined;
  private staging: GPUBuffer | undefined;
  private status: GPUBuffer | undefined;
  /** Bumped when a pool, uniform or state buffer is replaced: bind groups made before are rebuilt. */
  private generation = 0;
  private readonly steps: readonly StepInfo[];
  private readonly statusSlots: number;
  private readonly stateNames: ReadonlySet<string>;
  private readonly states: DeviceStates<GPUBuffer>;

  constructor(
    readonly runtime: GpuRuntime,
    private readonly plan: Plan,
    kernels: KernelSource,
    state: StateStore,
  ) {
    this.pool = plan.buffers.map(() => undefined);
    const slots = statusSlots(plan);
    // every step has a renderer before anything is uploaded: an op without one is an error naming it
    this.steps = plan.steps.map((step, k): StepInfo => ({ step, node: plan.graph.nodes[step.node]!, render: kernels(plan.graph.nodes[step.node]!, k), statusSlot: slots[k]! }));
    this.statusSlots = this.steps.filter((s) => s.statusSlot >= 0).length;
    this.stateNames = stateNames(plan.graph);
    this.states = DeviceStates.acquire(runtime, state, this.stateMemory(), 'WebGpuModel.readState');
  }

  checkAlive(what: string): void {
    this.runtime.checkAlive(what);
  }

  disposedError(): Error {
    return new ModelDisposedError();
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.states.release();
    for (const b of this.owned) this.runtime.destroyBuffer(b);
    this.owned.clear();
    this.pool.fill(undefined);
    this.uniform = this.staging = this.status = undefined;
  }

  /** GPU buffers and bytes this model holds now (not counting shared state buffers). */
  memory(): WebGpuMemoryStats {
    let bytes = 0;
    for (const b of this.owned) bytes += b.size;
    return { buffers: this.owned.size, bytes };
  }

  async readState(name: string): Promise<NDArray | undefined> {
    const s = this.states.held(name);
    if (!s) return undefined;
    const bytes = sizeOfShape(s.shape) * 4;
    const [staging] = await this.runtime.createBuffers([{ size: Math.max(16, align(bytes, 4)), usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST, label: `read state '${name}'` }]);
    try {
      const encoder = this.runtime.device.createCommandEncoder();
      if (bytes > 0) encoder.copyBufferToBuffer(s.handle, 0, staging!, 0, bytes);
      this.runtime.device.queue.submit([encoder.finish()]);
      const data = await this.runtime.readBuffer(staging!, Math.max(4, bytes));
      return { dtype: s.dtype, shape: [...s.shape], data: s.dtype === 'i32' ? new Int32Array(data, 0, bytes / 4) : new Float32Array(data, 0, bytes / 4) };
    } finally {
      this.runtime.destroyBuffer(staging!);
    }
  }

  // --- preparation -------------------------------------------------------------------------------

  async upload(weights: Weights): Promise<void> {
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

  private stateMemory(): StateMemory<GPUBuffer> {
    return {
      write: async (name, _dtype, shape, data, previous) => {
        let buffer = previous;
        if (!buffer) {
          // new buffers start as zeros (WebGPU zero-initializes them)
          [buffer] = await this.runtime.createBuffers([{ size: Math.max(16, sizeOfShape(shape) * 4), usage: POOL_USAGE, label: `state '${name}'` }]);
        } else if (!data) {
          // zeroed on the queue now, not at this model's next launch: the states belong to every model
          // on the store (DeviceStates keeps the first model's memory), and the next run may be another's
          // (a step model prepared first then wiped what the next prefill wrote)
          const encoder = this.runtime.device.createCommandEncoder({ label: `zero state '${name}'` });
          encoder.clearBuffer(buffer);
          this.runtime.device.queue.submit([encoder.finish()]);
        }
        if (data && data.byteLength > 0) this.runtime.device.queue.writeBuffer(buffer!, 0, data as unknown as GPUAllowSharedBufferSource);
        return buffer!;
      },
      free: (buffer) => this.runtime.destroyBuffer(buffer),
    };
  }

  private checkBufferSize(b: PlanBuffer, bytes: number): number {
    if (bytes > this.runtime.limits.maxBufferSize) {
      throw new WebGpuLimitError(`${bufferLabel(b)} needs ${formatBytes(bytes)}, more than the device's maxBufferSize (${formatBytes(this.runtime.limits.maxBufferSize)})`);
    }
    return Math.max(16, align(bytes, 4));
  }

  private async allocate(requests: readonly { size: number; label: string; usage?: number }[]): Promise<GPUBuffer[]> {
    const buffers = await this.runtime.createBuffers(requests.map((r) => ({ size: r.size, label: r.label, usage: r.usage ?? POOL_USAGE })));
    for (const b of buffers) this.owned.add(b);
    return buffers;
  }

  private releaseBuffer(buffer: GPUBuffer | undefined): void {
    if (!buffer || !this.owned.delete(buffer)) return;
    this.runtime.destroyBuffer(buffer);
  }

  // --- rendering -----------------------------------------------------------------------------------

  /** Every step's launches for these symbol values, their pipelines compiled, uniforms packed, sizes resolved. */
  async render(bindings: DimBindings): Promise<WebGpuSchedule> {
    const graph = this.plan.graph;
    const limits = this.runtime.limits;
    const rendered: { stepIndex: number; launch: KernelLaunch; ranges: { offset: number; size: number }[]; what: string }[] = [];
    this.steps.forEach((s, stepIndex) => {
      const ctx = stepContext(this.plan, s.step, s.statusSlot, bindings, limits);
      const what = `${s.node.op} (node %${s.node.id}${s.node.source ? ` at ${s.node.source}` : ''})`;
      for (const launch of s.render(ctx)) {
        if (launch.bindings.length > limits.maxStorageBuffersPerShaderStage) {
          throw new WebGpuLimitError(`${what}: ${launch.bindings.length} storage buffers exceed the device's ${limits.maxStorageBuffersPerShaderStage} per kernel`);
        }
        const ranges = launch.bindings.map((b) => this.bindingRange(b, ctx, what));
        rendered.push({ stepIndex, launch, ranges, what });
      }
    });
    const uniformAlign = limits.minUniformBufferOffsetAlignment;
    let uniformBytes = 0;
    const offsets = rendered.map((r) => {
      const offset = uniformBytes;
      uniformBytes = align(offset + r.launch.params.byteLength, uniformAlign);
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
    return { launches, uniformData, bufferBytes, outputs, stagingBytes: Math.max(stagingBytes, 8), bindGroups: undefined, boundGeneration: '', validated: false };
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
      throw new WebGpuLimitError(
        `${what}: tensor ${tensor?.label ?? 'status'} ${tensor ? formatShape(tensor.shape) : ''} needs ${formatBytes(bytes)}, more than the device's maxStorageBufferBindingSize (${formatBytes(limit)}) that one kernel can bind`,
      );
    }
    return { offset: b.offset ?? 0, size: Math.max(4, align(bytes, 4)) };
  }

  // --- running -------------------------------------------------------------------------------------

  async execute(schedule: WebGpuSchedule, feeds: Readonly<Record<string, NDArray>>, bindings: DimBindings, profile: KernelTiming[] | undefined): Promise<Record<string, NDArray>> {
    await this.sizeBuffers(schedule);
    await this.placeStates(feeds, bindings);
    if (this.released) throw this.disposedError();
    const device = this.runtime.device;
    const generation = `${this.generation}/${this.states.version}`;
    const validate = !schedule.validated || schedule.boundGeneration !== generation;
    if (validate) device.pushErrorScope('validation');
    const groups = this.bindGroups(schedule, generation);
    this.writeInputs(schedule, feeds);
    const encoder = await this.launch(schedule, groups, profile);
    this.writeStates(schedule, encoder);
    const statusOffset = this.copyOutputs(schedule, encoder);
    device.queue.submit([encoder.finish()]);
    if (validate) {
      const error = await device.popErrorScope();
      if (error) {
        this.runtime.checkAlive('run');
        throw new KernelError(`a kernel failed validation (a renderer bug): ${error.message}`);
      }
      schedule.validated = true;
    }
    return this.readOutputs(schedule, statusOffset);
  }

  /** Allocates or grows pool buffers, the uniform buffer and the staging buffer for the schedule. */
  private async sizeBuffers(schedule: WebGpuSchedule): Promise<void> {
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
    const requests: { size: number; label: string; usage?: number }[] = grow.map((g) => ({ size: g.size, label: g.label }));
    if (growUniform) requests.push({ size: uniformNeed, label: 'loom params', usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
    if (growStaging) requests.push({ size: stagingNeed, label: 'loom readback', usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    const created = await this.allocate(requests);
    grow.forEach((g, i) => {
      this.releaseBuffer(this.pool[g.id]);
      this.pool[g.id] = created[i]!;
    });
    let next = grow.length;
    if (growUniform) {
      this.releaseBuffer(this.uniform);
      this.uniform = created[next++]!;
    }
    if (growStaging) {
      this.releaseBuffer(this.staging);
      this.staging = created[next++]!;
    }
    if (grow.length > 0 || growUniform) this.generation++;
  }

  /** Points each state buffer of the plan at the state's GPU buffer for this run. */
  private async placeStates(feeds: Readonly<Record<string, NDArray>>, bindings: DimBindings): Promise<void> {
    const graph = this.plan.graph;
    for (const b of this.plan.buffers) {
      if (b.kind !== 'state') continue;
      const node = graph.nodes.find((n) => n.op === 'input' && nodeName(n) === b.name)!;
      this.pool[b.id] = await this.states.forRun(b.name!, b.dtype, resolveShape(node.type.shape, bindings), feeds[b.name!]);
    }
  }

  private bindGroups(schedule: WebGpuSchedule, generation: string): GPUBindGroup[] {
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

  /** The feeds, the parameter blocks and a fresh status block, queued before the launches. */
  private writeInputs(schedule: WebGpuSchedule, feeds: Readonly<Record<string, NDArray>>): void {
    const queue = this.runtime.device.queue;
    for (const b of this.plan.buffers) {
      if (b.kind !== 'input') continue;
      const data = toTyped(feeds[b.name!]!);
      if (data.byteLength > 0) queue.writeBuffer(this.pool[b.id]!, 0, data as unknown as GPUAllowSharedBufferSource);
    }
    if (schedule.uniformData.byteLength > 0) queue.writeBuffer(this.uniform!, 0, schedule.uniformData as unknown as GPUAllowSharedBufferSource);
    if (this.status) queue.writeBuffer(this.status, 0, statusReset(this.statusSlots) as unknown as GPUAllowSharedBufferSource);
  }

  /**
   * Encodes every launch into one compute pass; profiling instead submits
   * each launch on its own and times it on the host until the queue drains. Returns the encoder the
   * read-back copies go into.
   */
  private async launch(schedule: WebGpuSchedule, groups: readonly GPUBindGroup[], profile: KernelTiming[] | undefined): Promise<GPUCommandEncoder> {
    const device = this.runtime.device;
    const encoder = device.createCommandEncoder({ label: 'loom run' });
    const dispatch = (pass: GPUComputePassEncoder, l: ScheduledLaunch, i: number) => {
      pass.setPipeline(l.pipeline);
      pass.setBindGroup(0, groups[i]!);
      pass.dispatchWorkgroups(...l.launch.workgroups);
    };
    if (!profile) {
      const pass = encoder.beginComputePass();
      schedule.launches.forEach((l, i) => dispatch(pass, l, i));
      pass.end();
      return encoder;
    }
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    for (const [i, l] of schedule.launches.entries()) {
      const start = performance.now();
      const one = device.createCommandEncoder();
      const pass = one.beginComputePass();
      dispatch(pass, l, i);
      pass.end();
      device.queue.submit([one.finish()]);
      await device.queue.onSubmittedWorkDone();
      const node = this.steps[l.stepIndex]!.node;
      profile.push({ node: node.id, op: node.op, workgroups: [...l.launch.workgroups], ms: performance.now() - start });
    }
    return device.createCommandEncoder();
  }

  /** States whose next value a launch wrote into another buffer (plan.stateWrites): copied into the state's buffer. */
  private writeStates(schedule: WebGpuSchedule, encoder: GPUCommandEncoder): void {
    for (const w of this.plan.stateWrites ?? []) {
      const bytes = schedule.bufferBytes[w.to]!;
      if (bytes > 0) encoder.copyBufferToBuffer(this.pool[w.from]!, 0, this.pool[w.to]!, 0, bytes);
    }
  }

  /** Copies the outputs and the status words into the staging buffer; returns where the status words start. */
  private copyOutputs(schedule: WebGpuSchedule, encoder: GPUCommandEncoder): number {
    for (const o of schedule.outputs) if (o.bytes > 0) encoder.copyBufferToBuffer(this.pool[o.buffer]!, 0, this.staging!, o.stagingOffset, o.bytes);
    const statusOffset = schedule.stagingBytes - this.statusSlots * STATUS_WORDS * 4;
    if (this.status) encoder.copyBufferToBuffer(this.status, 0, this.staging!, statusOffset, this.statusSlots * STATUS_WORDS * 4);
    return statusOffset;
  }

  private async readOutputs(schedule: WebGpuSchedule, statusOffset: number): Promise<Record<string, NDArray>> {
    let bytes: ArrayBuffer;
    try {
      bytes = await this.runtime.readBuffer(this.staging!, schedule.stagingBytes);
    } catch (e) {
      if (this.released) throw this.disposedError();
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

  /** Kernels that met bad data (a gather id or label out of range, a cache position that does not fit) count it in their status slot. */
  private checkStatus(words: Uint32Array): void {
    for (const s of this.steps) {
      if (s.statusSlot < 0) continue;
      const bad = words[s.statusSlot * STATUS_WORDS]!;
      if (bad === 0) continue;
      throw statusError(this.plan.graph, s.node, bad, words[s.statusSlot * STATUS_WORDS + 1]!);
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

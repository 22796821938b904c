import { bindInputs, checkCodeWords, checkWeights, codesPerWord, type DimBindings, type Expr, formatExpr, graphInputs, LoomError, nodeName, normalizeAxis, resolveDim, resolveShape, sizeOf, stateNames, type GraphNode, type NDArray, type Storage, type Weights } from '@loom/graph';
import type { Plan } from '@loom/compiler';
import { renderStep } from './render/render-step.ts';
import { createCpuRuntime, type CpuRuntime } from './runtime.ts';
import { leaseArenas, markResident } from './kernels/resident-weights.ts';
import { StateStore } from '../state-store.ts';
import { PoisonGuard, poisonEnabled, type CpuProgramOptions } from './poison.ts';
import { bindingsKey } from './bindings-key.ts';
import { InvariantSteps } from './invariant-steps.ts';
import { contiguousLayout, isContiguous, reshapeLayout, sliceLayout, transposeLayout, type Layout } from './layout.ts';
import { WasmRuntime, type CpuKernelOptions, type KernelSettings } from './wasm-runtime/runtime.ts';
import { streamedPanels, weightPanels } from './wasm-runtime/weight-panels.ts';
import { productLayout, quantizedPanelBytes, quantizedPanels } from './wasm-runtime/quantized-panels.ts';
import { firstNonFiniteIndex, type NonFiniteTrace } from '../finite-outputs.ts';
import { checkMemoryBudget, defaultMaxMemory, runBytes, staticBytes, type ModelBytes } from '../memory-budget.ts';
import { cpuThreads, workerBytes } from './cpu-threads.ts';

/** The ops whose kernel is the GEMM (weights read as B are packed for them). */
const MATMUL_OPS: ReadonlySet<string> = new Set(['matmul', 'fused_matmul', 'fused_matmul_rope']);

/** What one run resolved: every buffer's storage, and each node's shape, layout and dense data. */
interface RunBuffers {
  readonly storage: readonly Storage[];
  shapeOf(node: GraphNode): number[];
  layoutOf(node: GraphNode): Layout;
  /** The node's buffer cut to `shape`'s size. */
  dense(node: GraphNode, shape: number[]): Storage;
}

type KernelFn = (ins: Storage[], out: Storage, inShapes: number[][], outShape: number[], layouts: (Layout | undefined)[]) => void;

/** What one step's kernel is called with, and the buffers (plan ids, and the arrays this run gave them) its inputs and output were cut from. */
interface StepArguments {
  readonly ins: Storage[];
  readonly inShapes: number[][];
  readonly inLayouts: (Layout | undefined)[];
  readonly out: Storage;
  readonly outShape: number[];
  readonly sources: readonly number[];
  readonly from: readonly Storage[];
}

/** A kernel written ahead of time (an exported TypeScript module): renderStep's body as a function of the runtime. */
export type AotKernel = (rt: CpuRuntime, ins: Storage[], out: Storage, inShapes: number[][], outShape: number[], layouts: (Layout | undefined)[]) => void;

/** One step of the program: its node, its generated source and the compiled function. */
export interface CpuKernel {
  readonly node: GraphNode;
  readonly source: string;
  readonly fn: KernelFn;
}

/** The cpu backend's own settings (PrepareOptions.cpu): poison mode, threads, SIMD, weight store, tracing and profiling. */
export type CpuOptions = CpuProgramOptions & CpuKernelOptions & {
  /** Record the first kernel whose output holds a NaN or infinity, per run (`nonFinite`). */
  readonly traceNonFinite?: boolean;
  /** Time every kernel call (`program.profile()`); off by default (one clock read per kernel when on). */
  readonly profile?: boolean;
};

/** What CpuProgram.create takes: the cpu settings, the memory budget, and kernels written ahead of time. */
export type CpuPrepareOptions = CpuOptions & {
  /** Bytes the model and a run may hold: weights and their packed copies, constants, intermediates, outputs, states (default: 3/4 of the machine's memory). */
  readonly maxMemory?: number;
  /** The kernels, one per plan step, written ahead of time; rendered and compiled here when absent. */
  readonly kernels?: readonly AotKernel[];
};

/** Time per kernel kind, summed over runs since the program was created (profile mode). */
export interface KernelProfileEntry {
  readonly kernel: string;
  readonly calls: number;
  readonly ms: number;
  /** The products' multiply-adds over those calls (batch x m x n x k each); 0 for kernels that are not products. */
  readonly multiplyAdds: number;
}

/** Frees a program's heap blocks if it is dropped without dispose(). */
const unreleased = new FinalizationRegistry<() => void>((release) => release());

/**
 * A Plan turned into JavaScript: one generated function per kernel (source kept for inspection),
 * weights converted to float32 once (and packed for the matmul kernels at creation), and buffers in
 * the WebAssembly heap reused from run to run, so the SIMD kernels work on them in place.
 * Slices and transposes that the plan made views (no kernel) reach their consumer as the source's
 * buffer plus a strided layout.
 */
export class CpuProgram {
  readonly kernels: readonly CpuKernel[];
  private readonly params = new Map<number, Storage>();
  private readonly constants = new Map<number, Storage>();
  private readonly pool = new Map<number, { at: number; data: Storage }>();
  private readonly states: ReadonlySet<string>;
  private readonly releaseArenas = leaseArenas();
  private readonly stridedViews: ReadonlySet<number>;
  private readonly rt = WasmRuntime.get();
  private readonly runtime: CpuRuntime;
  /** Poison mode (poison.ts): undefined when off. */
  private readonly guard: PoisonGuard | undefined;
  private readonly blocks: number[] = [];
  private disposed = false;
  private readonly timings: Map<string, { calls: number; ms: number; multiplyAdds: number }> | undefined;
  private readonly lastStepMs: number[] = [];
  private readonly traceNonFinite: boolean;
  private readonly invariantSteps: InvariantSteps;
  /** Shapes and view layouts of the last run's symbol values, kept while the next runs have the same ones (each decoding step does). */
  private shapesKey = '';
  private readonly shapes = new Map<number, number[]>();
  private readonly layouts = new Map<number, Layout>();
  /** The intermediate and output buffers' views of the last run, kept with the shapes (the same sizes need the same views). */
  private workViews: Storage[] | undefined;
  /** Per step, the arguments the last run at these shapes gave its kernel, with the buffers they were cut from. */
  private readonly stepArgs: (StepArguments | undefined)[] = [];
  private readonly workBuffers: readonly number[];
  private readonly stopListening: () => void;
  /** With `traceNonFinite`: the first kernel of the last run whose output held a NaN or infinity. */
  nonFinite: NonFiniteTrace | undefined;

  /** Compiles the kernels, settles threads and SIMD flavor, and packs the weights the matmuls read. */
  static async create(plan: Plan, weights: Weights, state: StateStore = new StateStore(), options: CpuPrepareOptions = {}): Promise<CpuProgram> {
    const threads = await cpuThreads(options.threads);
    const maxMemory = options.maxMemory ?? (await defaultMaxMemory());
    // the budget first: nothing is allocated, and no worker started, for a model that cannot fit
    const held: ModelBytes = { ...staticBytes(plan, weights), weightCopies: packedWeightBytes(plan, options.weightStore ?? 'f32') + heapVectorBytes(plan), workers: workerBytes(threads) };
    checkMemoryBudget('cpu', held, maxMemory);
    const settings = await WasmRuntime.get().settle({ ...options, threads });
    const program = new CpuProgram(plan, weights, state, options, settings, maxMemory, held);
    program.packWeights();
    return program;
  }

  private constructor(
    readonly plan: Plan,
    weights: Weights,
    readonly state: StateStore,
    options: CpuProgramOptions,
    readonly settings: KernelSettings,
    private readonly maxMemory: number,
    private readonly held: ModelBytes,
  ) {
    this.timings = (options as CpuPrepareOptions).profile ? new Map() : undefined;
    this.traceNonFinite = Boolean((options as CpuPrepareOptions).traceNonFinite);
    this.guard = poisonEnabled(options) ? new PoisonGuard(plan, (n) => this.rt.heap.i32(this.alloc(n * 4), n)) : undefined;
    this.states = stateNames(plan.graph);
    this.stridedViews = new Set(plan.stridedViews ?? []);
    this.workBuffers = plan.buffers.filter((b) => b.kind === 'intermediate' || b.kind === 'output').map((b) => b.id);
    this.invariantSteps = new InvariantSteps(plan);
    this.runtime = createCpuRuntime(this.rt, settings);
    checkWeights(plan.graph, weights, new Map());
    const aot = (options as CpuPrepareOptions).kernels;
    if (aot && aot.length !== plan.steps.length) throw new LoomError('aot', `the module has ${aot.length} kernels for a plan of ${plan.steps.length} steps`);
    this.kernels = plan.steps.map((step, k) => {
      const node = plan.graph.nodes[step.node]!;
      if (aot) {
        const kernel = aot[k]!;
        const runtime = this.runtime;
        return { node, source: kernel.toString(), fn: (ins, out, inShapes, outShape, layouts) => kernel(runtime, ins, out, inShapes, outShape, layouts) };
      }
      const body = renderStep(plan.graph, node);
      const source = `function kernel_${node.id}_${node.op}(ins, out, inShapes, outShape, layouts) {\n${indent(body)}\n}`;
      const fn = new Function('rt', `return ${source}`)(this.runtime) as KernelFn;
      return { node, source, fn };
    });
    for (const node of plan.graph.nodes) {
      const buffer = plan.nodeBuffer[node.id]!;
      if (node.op === 'param') {
        const given = toFloat32(weights.get(nodeName(node)!)!);
        // vectors (biases, a norm's gamma and beta) live in the heap, where kernels read them in place instead of copying them in per call
        const data = heapVector(node) ? this.heapArray(node.type.dtype, given.length) : given;
        if (data !== given) data.set(given);
        markResident(data as Float32Array | Int32Array);
        this.params.set(buffer, data);
      }
      if (node.op === 'constant') {
        const values = node.attrs['values'] as number[];
        const size = resolveDim(plan.buffers[buffer]!.size, new Map());
        const data = this.heapArray(node.type.dtype, size);
        if (values.length === 1) data.fill(values[0]!);
        else data.set(values);
        this.constants.set(buffer, data);
      }
    }
    // states dropped (a decoder given back to its pool): the kept arguments must not hold their arrays alive
    const self = new WeakRef(this);
    const stopListening = state.onDrop(() => self.deref()?.forgetArguments());
    this.stopListening = stopListening;
    const blocks = this.blocks;
    const heap = this.rt.heap;
    unreleased.register(
      this,
      () => {
        blocks.forEach((b) => heap.release(b));
        stopListening();
      },
      this,
    );
  }

  /** Drops the kept step arguments (and with them the arrays they were cut from); the next run cuts them anew. */
  private forgetArguments(): void {
    this.stepArgs.length = 0;
  }

  /** Frees the buffers and releases this program's hold on the kernels' weight caches. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    unreleased.unregister(this);
    for (const b of this.blocks) this.rt.heap.release(b);
    this.blocks.length = 0;
    this.pool.clear();
    this.workViews = undefined;
    this.forgetArguments();
    this.stopListening();
    this.releaseArenas();
  }

  /** The generated source of every kernel, in execution order. */
  source(): string {
    return this.kernels.map((k) => k.source).join('\n\n');
  }

  /** One run: bind the inputs, place the buffers, resolve shapes and views, run the steps, read the outputs. */
  run(feeds: Readonly<Record<string, NDArray>>): Record<string, NDArray> {
    const bindings = this.bindRun(feeds);
    const storage: Storage[] = new Array(this.plan.buffers.length);
    this.placeInputs(feeds, bindings, storage);
    this.placeWorkBuffers(bindings, storage);
    const run = this.resolveViews(bindings, storage);
    this.nonFinite = undefined;
    for (const [step, kernel] of this.kernels.entries()) this.runStep(step, kernel, run);
    this.writeStates(run);
    return this.readOutputs(run);
  }

  /** States whose next value a step wrote into another buffer (plan.stateWrites): copied into the state's array. */
  private writeStates(run: RunBuffers): void {
    for (const w of this.plan.stateWrites ?? []) {
      const to = run.storage[w.to]!;
      to.set(run.storage[w.from]!.subarray(0, to.length));
    }
  }

  /** Binds the symbols to the feeds' sizes, drops what was kept for other values, and checks the run against the memory budget. */
  private bindRun(feeds: Readonly<Record<string, NDArray>>): DimBindings {
    const { plan } = this;
    const bindings = bindInputs(plan.graph, feeds, { optional: this.states });
    const key = bindingsKey(bindings);
    this.invariantSteps.begin(key);
    if (key !== this.shapesKey) {
      this.shapesKey = key;
      this.shapes.clear();
      this.layouts.clear();
      this.workViews = undefined;
      this.forgetArguments();
    }
    checkMemoryBudget('cpu', { ...this.held, constants: this.held.constants + this.invariantSteps.bytes }, this.maxMemory, { bytes: runBytes(plan, bindings), bindings });
    return bindings;
  }

  /** The graph inputs (states in the heap, from the store or the feeds), weights and constants, into their buffers. */
  private placeInputs(feeds: Readonly<Record<string, NDArray>>, bindings: DimBindings, storage: Storage[]): void {
    const { plan } = this;
    for (const node of graphInputs(plan.graph)) {
      const name = nodeName(node)!;
      const fed = feeds[name];
      if (this.states.has(name)) storage[plan.nodeBuffer[node.id]!] = this.stateStorage(node, fed, resolveShape(node.type.shape, bindings));
      else storage[plan.nodeBuffer[node.id]!] = toFloat32(fed!);
    }
    for (const [id, data] of this.params) storage[id] = data;
    for (const [id, data] of this.constants) storage[id] = data;
  }

  /** Intermediate and output buffers at this run's sizes: pooled heap blocks, grown where too small (poison mode: guarded ones). */
  private placeWorkBuffers(bindings: DimBindings, storage: Storage[]): void {
    // at the last run's sizes its views still fit (pooled blocks only move when a size grows)
    const kept = this.workViews;
    if (kept && !this.guard) {
      for (const id of this.workBuffers) storage[id] = kept[id]!;
      return;
    }
    for (const buffer of this.plan.buffers) {
      if (buffer.kind !== 'intermediate' && buffer.kind !== 'output') continue;
      if (this.guard) {
        storage[buffer.id] = this.guard.take(buffer, bindings);
        continue;
      }
      const size = resolveDim(buffer.size, bindings);
      let pooled = this.pool.get(buffer.id);
      if (!pooled || pooled.data.length < size) {
        if (pooled) this.free(pooled.at);
        const at = this.alloc(Math.max(size, 1) * 4);
        pooled = { at, data: buffer.dtype === 'i32' ? this.rt.heap.i32(at, size) : this.rt.heap.f32(at, size) };
        this.pool.set(buffer.id, pooled);
      }
      storage[buffer.id] = pooled.data.subarray(0, size);
    }
    if (!this.guard) this.workViews = storage.slice();
  }

  /** Shapes and view layouts of nodes at this run's symbol values, each resolved once and kept while the values stay. */
  private resolveViews(bindings: DimBindings, storage: readonly Storage[]): RunBuffers {
    const { plan, shapes, layouts } = this;
    const shapeOf = (node: GraphNode): number[] => {
      let s = shapes.get(node.id);
      if (!s) shapes.set(node.id, (s = resolveShape(node.type.shape, bindings)));
      return s;
    };
    // layouts are kept, except those holding a temporary copy (freed when their kernel ends)
    const layoutOf = (node: GraphNode): Layout => {
      let l = layouts.get(node.id);
      if (!l) {
        l = this.layoutOf(node, shapeOf, layoutOf, storage);
        if (!l.data) layouts.set(node.id, l);
      }
      return l;
    };
    const dense = (node: GraphNode, shape: number[]): Storage => {
      const data = storage[plan.nodeBuffer[node.id]!]!;
      const size = shape.reduce((p, d) => p * d, 1);
      return data.length === size ? data : data.subarray(0, size);
    };
    return { storage, shapeOf, layoutOf, dense };
  }

  /** Runs one kernel (or writes back its kept invariant value), then the poison and non-finite checks. */
  private runStep(step: number, kernel: CpuKernel, run: RunBuffers): void {
    const { ins, inShapes, inLayouts, out, outShape } = this.stepArguments(step, kernel.node, run);
    const start = this.timings ? performance.now() : 0;
    try {
      const replayed = this.invariantSteps.replay(step, out);
      if (!replayed) {
        kernel.fn(ins, out, inShapes, outShape, inLayouts);
        this.invariantSteps.keep(step, out);
      }
      // a replayed product wrote back its kept value: no multiply-adds to its rate
      if (this.timings) this.time(step, kernel.node, performance.now() - start, replayed ? 0 : multiplyAdds(kernel.node, inShapes, outShape));
    } catch (e) {
      if (e instanceof LoomError) e.message = `${e.message} (kernel %${kernel.node.id} ${kernel.node.op}${kernel.node.source ? ` at ${kernel.node.source}` : ''})`;
      throw e;
    } finally {
      this.runtime.endKernel();
    }
    this.guard?.afterStep(step, run.storage);
    if (this.traceNonFinite && !this.nonFinite && kernel.node.type.dtype === 'f32') this.nonFinite = nonFiniteIn(run.dense(kernel.node, outShape), kernel.node);
  }

  /**
   * A kernel's inputs (dense arrays, or a view's buffer with its layout where the view is strided)
   * and output. The last run's are reused while the shapes and every buffer they were cut from are
   * the same (a decoding step's are, but for the token fed): a GPT-2 step has about a hundred kernels.
   */
  private stepArguments(step: number, node: GraphNode, run: RunBuffers): StepArguments {
    const { plan } = this;
    const kept = this.stepArgs[step];
    if (kept && kept.sources.every((buffer, k) => run.storage[buffer] === kept.from[k])) return kept;
    const inputs = node.inputs.map((i) => plan.graph.nodes[i]!);
    const inShapes = inputs.map(run.shapeOf);
    const inLayouts = inputs.map((n) => (this.isView(n) ? run.layoutOf(n) : undefined));
    // a layout holding a temporary copy (freed when the kernel ends) makes the arguments this run's only
    let temporary = false;
    const ins = inputs.map((n, k) => {
      const l = inLayouts[k];
      if (!l) return run.dense(n, inShapes[k]!);
      if (l.data) temporary = true;
      const data = l.data ?? run.storage[plan.nodeBuffer[n.id]!]!;
      if (!isContiguous(l)) return data;
      inLayouts[k] = undefined;
      return data.subarray(l.offset, l.offset + inShapes[k]!.reduce((p, d) => p * d, 1));
    });
    const outShape = run.shapeOf(node);
    const out = run.dense(node, outShape);
    const sources = [...inputs.map((n) => plan.nodeBuffer[n.id]!), plan.nodeBuffer[node.id]!];
    const args: StepArguments = { ins, inShapes, inLayouts, out, outShape, sources, from: sources.map((b) => run.storage[b]!) };
    this.stepArgs[step] = temporary ? undefined : args;
    return args;
  }

  /** Copies of the graph's outputs (states stay in the store). */
  private readOutputs(run: RunBuffers): Record<string, NDArray> {
    const { graph } = this.plan;
    return Object.fromEntries(
      graph.outputs.filter((o) => !this.states.has(o.name)).map((o) => {
        const node = graph.nodes[o.node]!;
        const shape = run.shapeOf(node);
        return [o.name, { dtype: node.type.dtype, shape: [...shape], data: run.dense(node, shape).slice() } satisfies NDArray];
      }),
    );
  }

  /** Kernel time by kind (op, and a fused matmul's epilogue), slowest first; empty unless prepared with `profile`. */
  profile(): KernelProfileEntry[] {
    return [...(this.timings ?? new Map())].map(([kernel, t]) => ({ kernel, ...t })).sort((a, b) => b.ms - a.ms);
  }

  /** Steps whose arguments are kept for the next run at the same sizes (see stepArguments). */
  keptArguments(): number {
    return this.stepArgs.filter((a) => a !== undefined).length;
  }

  /** Steps of the last run that wrote back the value kept from an earlier run (invariant-steps.ts) instead of computing it. */
  replayedSteps(): number {
    return this.invariantSteps.replayed;
  }

  /** Milliseconds of each plan step in the last run (profile mode; empty otherwise): the inspector's per-kernel timings. */
  stepTimes(): readonly number[] {
    return [...this.lastStepMs];
  }

  private time(step: number, node: GraphNode, ms: number, macs: number): void {
    this.lastStepMs[step] = ms;
    const { op, attrs } = node;
    const kind = op === 'fused_matmul' || op === 'fused_matmul_rope' || op === 'quantized_matmul' ? `${op === 'quantized_matmul' ? `quantized_matmul q${String(attrs['bits'])}` : 'fused_matmul'} ${formatExpr(attrs['epilogue'] as Expr)}` : op === 'fused_elementwise' ? `fused_elementwise ${formatExpr(attrs['expr'] as Expr)}` : op;
    const t = this.timings!.get(kind) ?? { calls: 0, ms: 0, multiplyAdds: 0 };
    t.calls++;
    t.ms += ms;
    t.multiplyAdds += macs;
    this.timings!.set(kind, t);
  }

  /** Packs, once, the weights that matmuls read as B: at creation, so the first run costs no more than later ones. */
  private packWeights(): void {
    const { graph } = this.plan;
    for (const step of this.plan.steps) {
      const node = graph.nodes[step.node]!;
      if (node.op === 'quantized_matmul') {
        this.packQuantized(node);
        continue;
      }
      if (!MATMUL_OPS.has(node.op)) continue;
      const b = graph.nodes[node.inputs[1]!]!;
      const data = this.params.get(this.plan.nodeBuffer[b.id]!);
      const transposeB = Boolean(node.attrs['transposeB']);
      const bShape = b.type.shape;
      if (!(data instanceof Float32Array) || bShape.length !== 2 || bShape.some((d) => typeof d !== 'number')) continue;
      const [k, n] = (transposeB ? [bShape[1], bShape[0]] : bShape) as [number, number];
      if (k * n < 4096) continue; // products this small run in JavaScript
      const rows = node.type.shape[node.type.shape.length - 2];
      const oneRow = rows === 1;
      const bf16 = oneRow && this.settings.weightStore === 'bf16';
      if (weightPanels(this.rt, this.settings, data, k, n, transposeB, bf16 ? 'bf16' : 'f32') === undefined && bf16) streamedPanels(this.rt, this.settings, data, k, n, transposeB);
    }
    this.rt.shrinkScratch();
  }

  /** A quantized product's kept panels, made now when its codes, scales and zero points are weights. */
  private packQuantized(node: GraphNode): void {
    const param = (k: number) => {
      const input = this.plan.graph.nodes[node.inputs[k]!]!;
      return input.op === 'param' ? this.params.get(this.plan.nodeBuffer[input.id]!) : undefined;
    };
    const [codes, scales] = [param(1), param(2)];
    const zeroPoints = node.attrs['zeroPoints'] ? param(3) : undefined;
    if (!(codes instanceof Int32Array) || !(scales instanceof Float32Array) || (node.attrs['zeroPoints'] && !(zeroPoints instanceof Float32Array))) return;
    const a = this.plan.graph.nodes[node.inputs[0]!]!.type.shape;
    const k = a[a.length - 1] as number;
    const w = { codes, scales, zeroPoints: zeroPoints as Float32Array | undefined, bits: node.attrs['bits'] as 8 | 4, group: node.attrs['group'] as number, k, n: codes.length / Math.ceil(k / codesPerWord(node.attrs['bits'] as 8 | 4)) };
    // the layout the product will read (one for decoding's one row and prefill's many)
    const layout = productLayout(w.bits, w.group, node.attrs['activations'] === 'int8', this.settings);
    quantizedPanels(this.rt, w, () => checkCodeWords('quantized_matmul', codes), layout);
  }

  private isView(node: GraphNode): boolean {
    return this.stridedViews.has(node.id) || (node.op === 'reshape' && this.isView(this.plan.graph.nodes[node.inputs[0]!]!));
  }

  /** The layout of a view node over its owner's buffer, from its source's layout. */
  private layoutOf(node: GraphNode, shapeOf: (n: GraphNode) => number[], layoutOf: (n: GraphNode) => Layout, storage: readonly Storage[]): Layout {
    if (!this.isView(node)) return contiguousLayout(shapeOf(node));
    const source = this.plan.graph.nodes[node.inputs[0]!]!;
    let from = layoutOf(source);
    if (from.reshapeOf && node.op !== 'reshape') {
      // a reshape strides cannot express, then a slice or transpose: copy the reshaped tensor first
      from = { ...contiguousLayout(from.shape), data: this.runtime.dense(storage[this.plan.nodeBuffer[source.id]!]! as Float32Array | Int32Array, from) };
    }
    const a = node.attrs;
    if (node.op === 'reshape') return reshapeLayout(from, shapeOf(node));
    if (node.op === 'transpose') return transposeLayout(from, a['perm'] as number[]);
    // slice: start clamped as the slice kernel does
    const inShape = shapeOf(source);
    const axis = normalizeAxis(a['axis'] as number, inShape.length)!;
    let start = a['start'] as number;
    if (start < 0) start += inShape[axis]!;
    start = Math.min(Math.max(start, 0), inShape[axis]!);
    return sliceLayout(from, axis, start, a['step'] as number, shapeOf(node)[axis]!);
  }

  /** A state's storage in the heap (created as zeros, or copied in when fed or made elsewhere). */
  private stateStorage(node: GraphNode, fed: NDArray | undefined, shape: number[]): Storage {
    const name = nodeName(node)!;
    if (fed) this.state.set(name, { dtype: fed.dtype, shape: [...fed.shape], data: this.stateArray(node.type.dtype, toFloat32(fed)) });
    const value = this.state.ensure(name, node.type.dtype, shape, (n) => this.stateArray(node.type.dtype, n));
    if (this.rt.heap.addressOf(value.data) < 0) this.state.set(name, { ...value, data: this.stateArray(node.type.dtype, toFloat32(value)) });
    return this.state.get(name)!.data as Storage;
  }

  /** A heap array that outlives this program (states are shared between models): freed when collected. */
  private stateArray(dtype: NDArray['dtype'], init: number | Storage): Storage {
    const n = typeof init === 'number' ? init : init.length;
    const at = this.rt.heap.alloc(Math.max(n, 1) * 4);
    const data = dtype === 'i32' ? this.rt.heap.i32(at, n) : this.rt.heap.f32(at, n);
    data.fill(0);
    if (typeof init !== 'number') data.set(init as Float32Array);
    this.rt.heap.releaseWhenCollected(data, at);
    return data;
  }

  private heapArray(dtype: NDArray['dtype'], n: number): Storage {
    const at = this.alloc(Math.max(n, 1) * 4);
    return dtype === 'i32' ? this.rt.heap.i32(at, n) : this.rt.heap.f32(at, n);
  }

  private alloc(bytes: number): number {
    const at = this.rt.heap.alloc(bytes);
    this.blocks.push(at);
    return at;
  }

  private free(at: number): void {
    this.rt.heap.release(at);
    this.blocks.splice(this.blocks.indexOf(at), 1);
  }
}

/** Params copied into the heap at creation: vectors (rank 0 or 1) of at most this many elements. */
const HEAP_VECTOR_ELEMENTS = 1 << 16;

function heapVector(node: GraphNode): boolean {
  const shape = node.type.shape;
  return shape.length <= 1 && shape.every((d) => typeof d === 'number' && d <= HEAP_VECTOR_ELEMENTS);
}

/** Bytes of the heap copies of vector params (heapVector). */
function heapVectorBytes(plan: Plan): number {
  return plan.graph.nodes.filter((n) => n.op === 'param' && heapVector(n)).reduce((sum, n) => sum + Math.ceil((Math.max(sizeOf(n.type.shape as number[]), 1) * 4) / 64) * 64, 0);
}

/** A product's multiply-adds at these sizes (its output's elements times A's last axis, k); 0 for other kernels (the profile's GFLOP/s). */
function multiplyAdds(node: GraphNode, inShapes: readonly (readonly number[])[], outShape: readonly number[]): number {
  if (!MATMUL_OPS.has(node.op) && node.op !== 'quantized_matmul') return 0;
  return sizeOf(outShape) * inShapes[0]!.at(-1)!;
}

/** Bytes of the packed panels kept for the weights matmuls read as B (float32, and bfloat16 for one-row products with that store). */
function packedWeightBytes(plan: Plan, weightStore: KernelSettings['weightStore']): number {
  const seen = new Set<string>();
  let bytes = 0;
  for (const step of plan.steps) {
    const node = plan.graph.nodes[step.node]!;
    if (node.op === 'quantized_matmul') {
      const codes = plan.graph.nodes[node.inputs[1]!]!;
      const a = plan.graph.nodes[node.inputs[0]!]!.type.shape;
      const key = `${nodeName(codes)}|quantized`;
      if (codes.op !== 'param' || seen.has(key)) continue;
      seen.add(key);
      bytes += quantizedPanelBytes(node.attrs['bits'] as 8 | 4, node.attrs['group'] as number, a[a.length - 1] as number, codes.type.shape[0] as number, Boolean(node.attrs['zeroPoints']));
      continue;
    }
    if (!MATMUL_OPS.has(node.op)) continue;
    const b = plan.graph.nodes[node.inputs[1]!]!;
    if (b.op !== 'param' || b.type.shape.some((d) => typeof d !== 'number')) continue;
    const oneRow = node.type.shape[node.type.shape.length - 2] === 1 && weightStore === 'bf16';
    const key = `${nodeName(b)}|${String(node.attrs['transposeB'])}|${oneRow}`;
    if (seen.has(key)) continue;
    seen.add(key);
    bytes += ((b.type.shape as number[]).reduce((p, d) => p * d, 1) * 4) / (oneRow ? 2 : 1);
  }
  return bytes;
}

function nonFiniteIn(out: Storage, node: GraphNode): NonFiniteTrace | undefined {
  const i = firstNonFiniteIndex(out);
  return i < 0 ? undefined : { kernel: `%${node.id} ${node.op}${node.source ? ` at ${node.source}` : ''}`, element: i, value: out[i]! };
}

/** The array's data as float32 storage (i32 and Float32Array data as they are; f64 data converted). */
function toFloat32(a: NDArray): Storage {
  return a.dtype === 'i32' || a.data instanceof Float32Array ? a.data : Float32Array.from(a.data);
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

import { bindInputs, checkWeights, graphInputs, LoomError, nodeName, resolveDim, resolveShape, stateNames, type GraphNode, type NDArray, type Storage, type Weights } from '@loom/graph';
import type { Plan } from '@loom/compiler';
import { renderStep } from './render/render-step.ts';
import { cpuRuntime } from './runtime.ts';
import { leaseArenas, markResident } from './kernels/resident-weights.ts';
import { StateStore } from '../state-store.ts';
import { PoisonGuard, poisonEnabled, type CpuProgramOptions } from './poison.ts';

type KernelFn = (ins: Storage[], out: Storage, inShapes: number[][], outShape: number[]) => void;

/** One step of the program: its node, its generated source and the compiled function. */
export interface CpuKernel {
  readonly node: GraphNode;
  readonly source: string;
  readonly fn: KernelFn;
}

/**
 * A Plan turned into JavaScript: one generated function per kernel (source kept for inspection),
 * weights converted to float32 once, and a pool of buffers reused from run to run.
 */
export class CpuProgram {
  readonly kernels: readonly CpuKernel[];
  private readonly params = new Map<number, Storage>();
  private readonly constants = new Map<number, Storage>();
  private readonly pool = new Map<number, Storage>();
  private readonly states: ReadonlySet<string>;
  private readonly releaseArenas = leaseArenas();
  /** Poison mode (poison.ts): undefined when off. */
  private readonly guard: PoisonGuard | undefined;

  constructor(
    readonly plan: Plan,
    weights: Weights,
    readonly state: StateStore = new StateStore(),
    options: CpuProgramOptions = {},
  ) {
    this.guard = poisonEnabled(options) ? new PoisonGuard(plan) : undefined;
    this.states = stateNames(plan.graph);
    checkWeights(plan.graph, weights, new Map());
    this.kernels = plan.steps.map((step) => {
      const node = plan.graph.nodes[step.node]!;
      const body = renderStep(plan.graph, node);
      const source = `function kernel_${node.id}_${node.op}(ins, out, inShapes, outShape) {\n${indent(body)}\n}`;
      const fn = new Function('rt', `return ${source}`)(cpuRuntime) as KernelFn;
      return { node, source, fn };
    });
    for (const node of plan.graph.nodes) {
      const buffer = plan.nodeBuffer[node.id]!;
      if (node.op === 'param') {
        const data = toFloat32(weights.get(nodeName(node)!)!);
        if (data instanceof Float32Array) markResident(data);
        this.params.set(buffer, data);
      }
      if (node.op === 'constant') {
        const values = node.attrs['values'] as number[];
        const size = resolveDim(plan.buffers[buffer]!.size, new Map());
        const data = node.type.dtype === 'i32' ? new Int32Array(size) : new Float32Array(size);
        if (values.length === 1) data.fill(values[0]!);
        else data.set(values);
        this.constants.set(buffer, data);
      }
    }
  }

  /** Drops the buffer pool and releases this program's hold on the kernels' weight caches. */
  dispose(): void {
    this.pool.clear();
    this.releaseArenas();
  }

  /** The generated source of every kernel, in execution order. */
  source(): string {
    return this.kernels.map((k) => k.source).join('\n\n');
  }

  run(feeds: Readonly<Record<string, NDArray>>): Record<string, NDArray> {
    const { plan } = this;
    const bindings = bindInputs(plan.graph, feeds, { optional: this.states });
    const storage: Storage[] = new Array(plan.buffers.length);
    for (const node of graphInputs(plan.graph)) {
      const name = nodeName(node)!;
      const fed = feeds[name];
      if (this.states.has(name)) {
        // a state lives in the store and is updated in place by its cache_update kernel
        if (fed) this.state.set(name, { dtype: fed.dtype, shape: [...fed.shape], data: toFloat32(fed).slice() });
        const shape = resolveShape(node.type.shape, bindings);
        const value = this.state.ensure(name, node.type.dtype, shape, (n) => (node.type.dtype === 'i32' ? new Int32Array(n) : new Float32Array(n)));
        if (!(value.data instanceof Float32Array || value.data instanceof Int32Array)) this.state.set(name, { ...value, data: toFloat32(value) });
        storage[plan.nodeBuffer[node.id]!] = this.state.get(name)!.data;
      } else storage[plan.nodeBuffer[node.id]!] = toFloat32(fed!);
    }
    for (const [id, data] of this.params) storage[id] = data;
    for (const [id, data] of this.constants) storage[id] = data;
    for (const buffer of plan.buffers) {
      if (buffer.kind !== 'intermediate' && buffer.kind !== 'output') continue;
      if (this.guard) { storage[buffer.id] = this.guard.take(buffer, bindings); continue; }
      const size = resolveDim(buffer.size, bindings);
      let data = this.pool.get(buffer.id);
      if (!data || data.length < size) {
        data = buffer.dtype === 'i32' ? new Int32Array(size) : new Float32Array(size);
        this.pool.set(buffer.id, data);
      }
      storage[buffer.id] = data.subarray(0, size);
    }
    const shapeOf = (node: GraphNode) => resolveShape(node.type.shape, bindings);
    const view = (node: GraphNode, shape: number[]): Storage => {
      const data = storage[plan.nodeBuffer[node.id]!]!;
      const size = shape.reduce((p, d) => p * d, 1);
      return data.length === size ? data : data.subarray(0, size);
    };
    for (const [step, kernel] of this.kernels.entries()) {
      const inputs = kernel.node.inputs.map((i) => plan.graph.nodes[i]!);
      const inShapes = inputs.map(shapeOf);
      const outShape = shapeOf(kernel.node);
      try {
        kernel.fn(inputs.map((n, k) => view(n, inShapes[k]!)), view(kernel.node, outShape), inShapes, outShape);
      } catch (e) {
        if (e instanceof LoomError) e.message = `${e.message} (kernel %${kernel.node.id} ${kernel.node.op}${kernel.node.source ? ` at ${kernel.node.source}` : ''})`;
        throw e;
      }
      this.guard?.afterStep(step, storage);
    }
    return Object.fromEntries(
      plan.graph.outputs.filter((o) => !this.states.has(o.name)).map((o) => {
        const node = plan.graph.nodes[o.node]!;
        const shape = shapeOf(node);
        return [o.name, { dtype: node.type.dtype, shape, data: view(node, shape).slice() } satisfies NDArray];
      }),
    );
  }
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

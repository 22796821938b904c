import { canonicalDim, LoomError, multiplyDims, nodeName, resolveDim, stateNames, type Dim, type Graph, type GraphNode } from '@loom/graph';
import { VIEW_OPS, type BufferKind, type Plan, type PlanBuffer, type PlanStep, type StateWrite } from './plan.ts';

export interface MemoryPlanOptions {
  /** Reuse the buffers of dead values (liveness-based). Default true. */
  readonly reuse?: boolean;
  /** Let elementwise kernels overwrite an input that dies there. Default false (WebGPU forbids aliasing). */
  readonly inPlace?: boolean;
  /** Symbol values at which byte counts are reported. */
  readonly bindings?: Readonly<Record<string, number>>;
  /**
   * Make slices and transposes strided views (no kernel, no copy) where every reader takes a strided
   * input: attention's q, k and v, a matmul's A, a cache write's new rows (directly or through
   * reshapes and further views). Default false: the WebGPU kernels read dense tensors only.
   */
  readonly stridedViews?: boolean;
  /** Node count of the graph before compilation, for the report. */
  readonly nodesBefore?: number;
}

/** Elementwise kernels read each input at the index they write, so they may run in place. */
const IN_PLACE_OPS: ReadonlySet<string> = new Set(['fused_elementwise']);

/**
 * Assigns buffers to the values of a compiled graph executed in `order` (node ids). A value's buffer
 * returns to a free list after its last reader runs; a later value of the same dtype whose size is
 * provably no larger (same symbols, smaller or equal factor) takes it.
 */
export function planMemory(graph: Graph, order: readonly number[], options: MemoryPlanOptions = {}): Plan {
  const reuse = options.reuse ?? true;
  const inPlace = options.inPlace ?? false;
  const bindings = new Map(Object.entries(options.bindings ?? {}));
  const outputs = new Set(graph.outputs.map((o) => o.node));
  const states = stateNames(graph);
  const { cacheUpdates: stateUpdate, replaced } = checkStates(graph, states);
  const stateWrites: StateWrite[] = [];
  const position = new Map(order.map((id, i) => [id, i]));

  // a view reads through to its source: resolve every node to the node that owns its storage
  const strided = options.stridedViews ? stridedViewNodes(graph, outputs) : new Set<number>();
  const isView = (n: GraphNode) => VIEW_OPS.has(n.op) || strided.has(n.id);
  const owner: number[] = graph.nodes.map((n) => n.id);
  for (const n of graph.nodes) if (isView(n)) owner[n.id] = owner[n.inputs[0]!]!;

  // last step (position in order) at which each owner's storage is read; outputs live forever
  const lastUse = new Map<number, number>();
  for (const id of order) {
    const node = graph.nodes[id]!;
    for (const i of node.inputs) lastUse.set(owner[i]!, Math.max(lastUse.get(owner[i]!) ?? -1, position.get(id)!));
  }
  for (const o of outputs) lastUse.set(owner[o]!, Infinity);

  const buffers: PlanBuffer[] = [];
  const nodeBuffer: number[] = new Array(graph.nodes.length).fill(-1);
  const free: PlanBuffer[] = [];
  const steps: PlanStep[] = [];
  let naiveBytes = 0;

  const newBuffer = (kind: BufferKind, node: GraphNode, name?: string): PlanBuffer => {
    const b: PlanBuffer = { id: buffers.length, kind, dtype: node.type.dtype, size: multiplyDims(node.type.shape), ...(name ? { name } : {}) };
    buffers.push(b);
    return b;
  };

  for (const id of order) {
    const node = graph.nodes[id]!;
    if (node.op === 'input' || node.op === 'param') {
      const name = nodeName(node)!;
      const kind = node.op === 'input' && states.has(name) ? 'state' : node.op;
      nodeBuffer[id] = newBuffer(kind, node, name).id;
      continue;
    }
    if (node.op === 'constant') {
      nodeBuffer[id] = newBuffer('constant', node).id;
      continue;
    }
    if (isView(node)) {
      nodeBuffer[id] = nodeBuffer[node.inputs[0]!]!;
      continue;
    }
    const size = multiplyDims(node.type.shape);
    naiveBytes += bytesAt(size, bindings);
    const inputBuffers = node.inputs.map((i) => nodeBuffer[i]!);
    let out: PlanBuffer | undefined;
    let wroteInPlace = false;
    if (inPlace && IN_PLACE_OPS.has(node.op) && !outputs.has(id)) {
      // overwrite an input that is read for the last time here and has exactly the output's shape
      const candidate = node.inputs.find((i) => {
        const b = buffers[nodeBuffer[i]!]!;
        return b.kind === 'intermediate' && lastUse.get(owner[i]!) === position.get(id) && sameDim(b.size, size) && b.dtype === node.type.dtype
          && node.inputs.filter((j) => owner[j] === owner[i]).length === 1 && sameDim(multiplyDims(graph.nodes[i]!.type.shape), size);
      });
      if (candidate !== undefined) {
        out = buffers[nodeBuffer[candidate]!]!;
        wroteInPlace = true;
      }
    }
    const updatedState = stateUpdate.get(id);
    if (updatedState !== undefined) {
      out = buffers[nodeBuffer[updatedState]!]!;
      wroteInPlace = true;
    }
    const replacedState = replaced.get(id);
    if (replacedState !== undefined) {
      const state = buffers[nodeBuffer[replacedState.input]!]!;
      // an elementwise step that reads the state's value for the last time may write the next one over it
      const overwrite = inPlace && IN_PLACE_OPS.has(node.op) && lastUse.get(owner[replacedState.input]!) === position.get(id) && node.inputs.filter((i) => owner[i] === owner[replacedState.input]).length === 1;
      if (overwrite) {
        out = state;
        wroteInPlace = true;
      } else {
        out = newBuffer('output', node);
        stateWrites.push({ name: replacedState.name, from: out.id, to: state.id });
      }
    }
    if (!out && outputs.has(id)) out = newBuffer('output', node);
    if (!out && reuse) {
      const fit = free
        .filter((b) => b.dtype === node.type.dtype && dimFits(size, b.size))
        .sort((a, b) => bytesAt(a.size, bindings) - bytesAt(b.size, bindings))[0];
      if (fit) {
        free.splice(free.indexOf(fit), 1);
        out = fit;
      }
    }
    out ??= newBuffer('intermediate', node);
    nodeBuffer[id] = out.id;
    steps.push({ node: id, op: node.op, inputs: inputBuffers, output: out.id, inPlace: wroteInPlace });
    // release the storage of inputs that die here (after the kernel has read them)
    if (reuse) {
      const released = new Set<number>();
      for (const i of node.inputs) {
        const o = owner[i]!;
        const b = buffers[nodeBuffer[o]!]!;
        if (lastUse.get(o) === position.get(id) && b.kind === 'intermediate' && b.id !== out.id && !released.has(b.id)) {
          released.add(b.id);
          free.push(b);
        }
      }
    }
  }

  const plannedBytes = buffers.filter((b) => b.kind === 'intermediate' || b.kind === 'output').reduce((s, b) => s + bytesAt(b.size, bindings), 0);
  const naiveTotal = naiveBytes;
  return {
    graph,
    buffers,
    nodeBuffer,
    steps,
    ...(options.stridedViews ? { stridedViews: [...strided].sort((a, b) => a - b) } : {}),
    ...(stateWrites.length > 0 ? { stateWrites } : {}),
    stats: {
      nodesBefore: options.nodesBefore ?? graph.nodes.length,
      nodesAfter: graph.nodes.length,
      kernels: steps.length,
      naiveBytes: naiveTotal,
      plannedBytes,
      bindings: Object.fromEntries(bindings),
    },
  };
}

/** Reader positions that take a strided input: op -> input indices. */
const STRIDED_READERS: Readonly<Record<string, readonly number[]>> = {
  fused_attention: [0, 1, 2],
  matmul: [0],
  fused_matmul: [0],
  fused_matmul_rope: [0],
  cache_update: [1],
};

/**
 * The slices and transposes that can be strided views: not graph outputs, read only at positions
 * of STRIDED_READERS, by reshapes whose readers all are, or by other such views. Consumers come
 * after producers, so one backward sweep decides every node.
 */
function stridedViewNodes(graph: Graph, outputs: ReadonlySet<number>): Set<number> {
  const readers: { node: number; index: number }[][] = graph.nodes.map(() => []);
  for (const n of graph.nodes) n.inputs.forEach((i, index) => readers[i]!.push({ node: n.id, index }));
  const strided = new Set<number>();
  const passesThrough = new Set<number>(); // reshapes whose readers all take strided inputs
  const takes = ({ node, index }: { node: number; index: number }) => {
    const reader = graph.nodes[node]!;
    return STRIDED_READERS[reader.op]?.includes(index) || strided.has(node) || passesThrough.has(node);
  };
  for (let id = graph.nodes.length - 1; id >= 0; id--) {
    const node = graph.nodes[id]!;
    const eligible = node.op === 'slice' || node.op === 'transpose' || node.op === 'reshape';
    if (!eligible || outputs.has(id) || readers[id]!.length === 0 || !readers[id]!.every(takes)) continue;
    (node.op === 'reshape' ? passesThrough : strided).add(id);
  }
  return strided;
}

/** A state that a plan cannot update in place. */
export class StatePlanError extends LoomError {
  constructor(message: string) {
    super('state-plan', message);
  }
}

/**
 * How each state's next value is written. A cache_update of the state input that is the input's
 * only reader updates the state in place (a KV cache: `cacheUpdates`, updating node -> state input).
 * Any other producer of a value of the state's type (a trained weight, an optimizer's moment)
 * replaces it after the run: in place where an elementwise step reads the old value last, else
 * through a copy (`replaced`, producing node -> state). A state output of another type is an error.
 */
function checkStates(graph: Graph, states: ReadonlySet<string>): { cacheUpdates: Map<number, number>; replaced: Map<number, { name: string; input: number }> } {
  const cacheUpdates = new Map<number, number>();
  const replaced = new Map<number, { name: string; input: number }>();
  for (const name of states) {
    const input = graph.nodes.find((n) => n.op === 'input' && nodeName(n) === name)!;
    const output = graph.nodes[graph.outputs.find((o) => o.name === name)!.node]!;
    const readers = graph.nodes.filter((n) => n.inputs.includes(input.id));
    if (output.op === 'cache_update' && output.inputs[0] === input.id && readers.length === 1) {
      cacheUpdates.set(output.id, input.id);
      continue;
    }
    if (output.type.dtype !== input.type.dtype || output.type.shape.length !== input.type.shape.length || output.type.shape.some((d, i) => !sameDim(d, input.type.shape[i]!))) {
      throw new StatePlanError(`state '${name}': its next value has type ${output.type.dtype}[${output.type.shape.join(', ')}], not the state's ${input.type.dtype}[${input.type.shape.join(', ')}]`);
    }
    if (output.id === input.id) continue; // returned unchanged
    if (replaced.has(output.id)) throw new StatePlanError(`state '${name}': its next value is also the next value of state '${replaced.get(output.id)!.name}'; give each state its own`);
    replaced.set(output.id, { name, input: input.id });
  }
  return { cacheUpdates, replaced };
}

function sameDim(a: Dim, b: Dim): boolean {
  return canonicalDim(a) === canonicalDim(b);
}

/** Whether a value of size `need` provably fits a buffer of size `have` for every symbol value >= 1. */
function dimFits(need: Dim, have: Dim): boolean {
  const [nf, ns] = splitFactor(need);
  const [hf, hs] = splitFactor(have);
  return ns === hs && nf <= hf;
}

function splitFactor(d: Dim): [number, string] {
  if (typeof d === 'number') return [d, ''];
  const parts = String(canonicalDim(d)).split('*');
  const factor = /^\d+$/.test(parts[0]!) ? Number(parts.shift()) : 1;
  return [factor, parts.join('*')];
}

/** Bytes of a buffer at the given bindings (4 bytes per element; unbound symbols count as 1). */
function bytesAt(size: Dim, bindings: ReadonlyMap<string, number>): number {
  const padded = new Map(bindings);
  if (typeof size === 'string') for (const s of size.split('*')) if (!/^\d+$/.test(s) && !padded.has(s)) padded.set(s, 1);
  return resolveDim(size, padded) * 4;
}

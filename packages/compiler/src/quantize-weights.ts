import {
  codesPerWord,
  dequantizeMatrix,
  expandOps,
  GraphBuilder,
  InputError,
  nodeName,
  quantizeMatrix,
  type Graph,
  type GraphNode,
  type NDArray,
  type NodeRef,
  type QuantizedMatrix,
  type WeightQuantization,
  type Weights,
} from '@loom/graph';
import { eliminateDeadCode } from './passes/eliminate-dead-code.ts';

/** One weight the rewrite quantized, in one orientation. */
export interface QuantizedWeight {
  /** The float weight's name. */
  readonly name: string;
  /** Whether products read it transposed (x @ W^T: a tied LM head). */
  readonly transposed: boolean;
  readonly k: number;
  readonly n: number;
  /** The params holding its codes, scales and zero points. */
  readonly codes: string;
  readonly scales: string;
  readonly zeroPoints?: string;
  /** Bytes of the float32 weight and of its quantized form (codes as stored, 24 bits a word; scales; zero points). */
  readonly floatBytes: number;
  readonly quantizedBytes: number;
}

export interface QuantizedModel {
  readonly graph: Graph;
  /** The given weights and the quantized ones (floats no longer read are left out). */
  readonly weights: Weights;
  readonly quantized: readonly QuantizedWeight[];
}

/**
 * Quantized matrices by weight array, so the graphs of one model (a KV-cache decoder's prefill and
 * step) share one quantized copy: computed once, packed once by the kernels (keyed by the codes).
 */
const quantizedByWeight = new WeakMap<object, Map<string, QuantizedMatrix>>();

function quantizedOnce(value: NDArray, k: number, n: number, transposed: boolean, q: WeightQuantization, what: string): QuantizedMatrix {
  // the values' fingerprint too: an array changed in place since (a training step) is quantized again
  const key = `${k}x${n}|${transposed}|${q.bits}|${q.group}|${q.scales}|${q.zeroPoints}|${fingerprint(value.data)}`;
  let known = quantizedByWeight.get(value.data);
  if (!known) quantizedByWeight.set(value.data, (known = new Map()));
  let matrix = known.get(key);
  if (!matrix) known.set(key, (matrix = quantizeMatrix(value.data, k, n, transposed, q, what)));
  return matrix;
}

/** A 32-bit hash of every value (a few ms per million: small next to quantizing them). */
function fingerprint(data: NDArray['data']): number {
  const words = data instanceof Float32Array || data instanceof Int32Array ? new Int32Array(data.buffer, data.byteOffset, data.length) : Int32Array.from(data, (x) => Math.fround(x) * 1e6);
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
  return h >>> 0;
}

/**
 * The q8 / q4 weight stores as a graph rewrite: every matmul (or fused_matmul) whose B is a rank-2
 * param becomes a quantized_matmul reading that weight's codes and scales, new params computed here
 * (quantizeMatrix). The result means exactly what it computes: the reference interpreter runs it as
 * dequantize + matmul, so every backend's quantized run is checked against float64 of the same
 * dequantized weights. Other readers of a quantized weight (an embedding's gather of a tied table)
 * keep the float weight. Composites are expanded first, so the products inside linear, ffn and
 * attention are seen; expert_matmul's stacked experts are not quantized.
 */
/** A weight already quantized (a GGUF file's Q8_0, Q4_0, Q4_K and Q6_K blocks): its matrix, and whether products read the param transposed ([N, K]). */
export interface GivenQuantized {
  readonly matrix: QuantizedMatrix;
  readonly transposed: boolean;
}

export function quantizeWeights(graph: Graph, weights: Weights, quantization: WeightQuantization | undefined, given: ReadonlyMap<string, GivenQuantized> = new Map()): QuantizedModel {
  const expanded = expandOps(graph, (def) => def.category === 'composite');
  const paramOf = (ref: NodeRef): GraphNode | undefined => {
    const node = expanded.nodes[ref]!;
    return node.op === 'param' && node.type.shape.length === 2 && node.type.shape.every((d) => typeof d === 'number') ? node : undefined;
  };
  const quantized = new Map<string, QuantizedWeight>();
  const matrices = new Map<QuantizedWeight, QuantizedMatrix>();
  const added = new Map<string, NDArray>();
  const taken = new Set([...weights.keys(), ...expanded.nodes.filter((n) => n.op === 'param' || n.op === 'input').map((n) => nodeName(n)!)]);
  const fresh = (name: string): string => {
    if (taken.has(name)) throw new InputError(`quantizing weights: the name '${name}' for a quantized tensor is already a weight or input of the graph`);
    taken.add(name);
    return name;
  };
  const quantize = (param: GraphNode, transposed: boolean): QuantizedWeight | undefined => {
    const name = nodeName(param)!;
    const key = `${name}${transposed ? '.T' : ''}`;
    const known = quantized.get(key);
    if (known) return known;
    const [rows, cols] = param.type.shape as [number, number];
    const [k, n] = transposed ? [cols, rows] : [rows, cols];
    const kept = given.get(name);
    const value = weights.get(name);
    let q: QuantizedMatrix;
    if (kept && kept.transposed === transposed) {
      if (kept.matrix.k !== k || kept.matrix.n !== n) throw new InputError(`quantizing weights: the quantized weight '${name}' is ${kept.matrix.n} columns of ${kept.matrix.k}, its param [${rows}, ${cols}] read ${transposed ? 'transposed' : 'as is'} needs ${n} of ${k}`);
      q = kept.matrix;
    } else {
      if (!quantization) return undefined; // no store asked for: this product stays float
      if (!value) throw new InputError(`quantizing weights: missing weight '${name}'${kept ? ` (it is kept quantized for products reading it ${kept.transposed ? 'transposed' : 'as is'}, and one reads it the other way)` : ''}`);
      if (value.data.length !== k * n) throw new InputError(`quantizing weights: weight '${name}' holds ${value.data.length} values, its param is [${rows}, ${cols}]`);
      q = quantizedOnce(value, k, n, transposed, quantization, `weight '${name}'`);
    }
    const groups = Math.ceil(k / q.group);
    const entry: QuantizedWeight = {
      name,
      transposed,
      k,
      n,
      codes: fresh(`${key}.codes`),
      scales: fresh(`${key}.scales`),
      ...(q.zeroPoints ? { zeroPoints: fresh(`${key}.zero_points`) } : {}),
      floatBytes: k * n * 4,
      quantizedBytes: n * Math.ceil(k / codesPerWord(q.bits)) * 4 * (3 / 4) + n * groups * (quantization?.scales === 'f16' || q === kept?.matrix ? 2 : 4) * (q.zeroPoints ? 2 : 1),
    };
    added.set(entry.codes, { dtype: 'i32', shape: [n, Math.ceil(k / codesPerWord(q.bits))], data: q.codes });
    added.set(entry.scales, { dtype: 'f32', shape: [n, groups], data: q.scales });
    if (entry.zeroPoints) added.set(entry.zeroPoints, { dtype: 'f32', shape: [n, groups], data: q.zeroPoints! });
    quantized.set(key, entry);
    matrices.set(entry, q);
    return entry;
  };

  const b = new GraphBuilder();
  const map: NodeRef[] = [];
  const params = new Map<string, NodeRef>();
  const paramRef = (name: string, shape: number[], dtype: 'i32' | 'f32'): NodeRef => {
    if (!params.has(name)) params.set(name, b.add('param', [], { name, dtype, shape }, ''));
    return params.get(name)!;
  };
  for (const node of expanded.nodes) {
    const inputs = node.inputs.map((i) => map[i]!);
    const weight = node.op === 'matmul' || node.op === 'fused_matmul' ? paramOf(node.inputs[1]!) : undefined;
    if (!weight) {
      map[node.id] = b.add(node.op, inputs, { ...node.attrs }, node.source ?? '');
      continue;
    }
    const q = weight ? quantize(weight, node.attrs['transposeB'] === true) : undefined;
    if (!q) {
      map[node.id] = b.add(node.op, inputs, { ...node.attrs }, node.source ?? '');
      continue;
    }
    const matrix = matrices.get(q)!;
    const words = Math.ceil(q.k / codesPerWord(matrix.bits));
    const groups = Math.ceil(q.k / matrix.group);
    const operands = [paramRef(q.codes, [q.n, words], 'i32'), paramRef(q.scales, [q.n, groups], 'f32'), ...(q.zeroPoints ? [paramRef(q.zeroPoints, [q.n, groups], 'f32')] : [])];
    const attrs = { bits: matrix.bits, group: matrix.group, zeroPoints: q.zeroPoints !== undefined, activations: quantization?.activations ?? 'f32', epilogue: node.op === 'fused_matmul' ? node.attrs['epilogue'] : { in: 0 } };
    map[node.id] = b.add('quantized_matmul', [inputs[0]!, ...operands, ...inputs.slice(2)], attrs, node.source ?? '');
  }
  // the floats only products read are no longer reachable
  const rewritten = eliminateDeadCode.run(b.build(Object.fromEntries(expanded.outputs.map((o) => [o.name, map[o.node]!]))));
  // floats still read (a tied embedding) stay; those only the products read are dropped
  const read = new Set(rewritten.nodes.filter((n) => n.op === 'param').map((n) => nodeName(n)!));
  const dropped = new Set([...quantized.values()].map((w) => w.name).filter((name) => !read.has(name)));
  const kept = new Map([...weights].filter(([name]) => !dropped.has(name)));
  for (const [name, value] of added) kept.set(name, value);
  // a kept quantized weight that something else reads (a tied embedding's gather): its float values
  for (const name of read) {
    const g = given.get(name);
    if (kept.has(name) || !g) continue;
    const { k, n } = g.matrix;
    kept.set(name, { dtype: 'f32', shape: g.transposed ? [n, k] : [k, n], data: Float32Array.from(dequantizeMatrix(g.matrix, g.transposed)) });
  }
  return { graph: rewritten, weights: kept, quantized: [...quantized.values()] };
}

/**
 * A Loom graph as a standard ONNX model (opset 20), for serving engines: onnxruntime in any
 * language, NVIDIA Triton's ONNX Runtime backend. Composite and fused ops, `rms_norm` and `rope`
 * are first expanded into primitives (their decompositions, the float64 reference's meaning), and
 * each primitive becomes one or a few ONNX nodes. Symbolic dims stay symbolic: inputs carry them as
 * dim_param, and reshapes and ranges of symbolic size read them back at run time (Shape, Gather).
 * Weights are initializers (an external data file, written tensor by tensor, when they exceed
 * `externalAbove`). Sizes are checked before anything is allocated: an input, param or constant
 * past MAX_EXPORT_TENSOR_ELEMENTS is a TensorSizeError naming it. Quantized weights (q8 / q4 stores)
 * keep their codes, repacked to uint8: a product whose group is a power of two >= 16 becomes
 * onnxruntime's `com.microsoft::MatMulNBits` (the model then imports that operator set, version 1, and
 * runs in onnxruntime, not in every ONNX runtime), any other group or a standalone `dequantize`
 * becomes standard ops that dequantize at run time (export/onnx-quantized.ts); their codes must be
 * weights. Not covered: `cache_update` (KV-cache graphs: export the full-sequence graph); integers
 * are int32, as Loom's.
 */
import { expandOps, LoomError, normalizeAxis, parseDim, shapeEquals, sizeOf, type Dim, type Graph, type GraphNode, type NDArray, type Weights } from '@loom/graph';
import type { EncodedModel } from './encoded-model.ts';
import { OnnxDataType, OnnxModel } from './onnx-model.ts';
import { dequantizeStandard, matMulNBits, matMulNBitsTakes, packedCodes, packedZeroPoints, quantizedParamBytes, type QuantizedLayout } from './onnx-quantized.ts';
import { checkTensorSizes } from './tensor-sizes.ts';

export class OnnxExportError extends LoomError {
  constructor(message: string) {
    super('onnx-export', message);
  }
}

export interface OnnxExportOptions {
  /** Initializers above this many bytes in total go to an external data file. Default (and most) 2 GiB - 64 MiB: one protobuf message holds at most 2 GiB. */
  readonly externalAbove?: number;
  /** The external data file's name, relative to the model file. Default 'model.onnx.data'. */
  readonly externalName?: string;
}

export const ONNX_OPSET = 20;

// a protobuf message holds at most 2 GiB; 64 MiB is left for the nodes and the inline small tensors
const MAX_INLINE_BYTES = 2 ** 31 - 2 ** 26;

const UNARY: Readonly<Record<string, string>> = { neg: 'Neg', abs: 'Abs', exp: 'Exp', log: 'Log', sqrt: 'Sqrt', reciprocal: 'Reciprocal', tanh: 'Tanh', sigmoid: 'Sigmoid', relu: 'Relu', erf: 'Erf', sin: 'Sin', cos: 'Cos' };
const BINARY: Readonly<Record<string, string>> = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div', pow: 'Pow', maximum: 'Max', minimum: 'Min' };
const COMPARE: Readonly<Record<string, [string, boolean]>> = {
  equal: ['Equal', false],
  not_equal: ['Equal', true],
  less: ['Less', false],
  less_equal: ['LessOrEqual', false],
  greater: ['Greater', false],
  greater_equal: ['GreaterOrEqual', false],
};
const REDUCE: Readonly<Record<string, string>> = { reduce_sum: 'ReduceSum', reduce_mean: 'ReduceMean', reduce_max: 'ReduceMax' };
// "to the end" for Slice: any end past the axis clamps; 2^62 stays exact through a double and a BigInt
const TO_END = 2 ** 62;

/** Expands what ONNX has no single op for into Loom primitives (their decompositions). */
const toExpand = (def: { category: string; name: string }) => def.category === 'composite' || def.category === 'fused' || def.name === 'rms_norm' || def.name === 'rope';

export function exportOnnx(graph: Graph, weights: Weights, options: OnnxExportOptions = {}): EncodedModel {
  // what the model declares with its sizes, as the ts export checks them: the initializers (each
  // must fit one array before any is made) and the inputs (a caller must be able to make them);
  // intermediates are the runtime's
  checkTensorSizes(graph, 'onnx export', (n) => n.op === 'param' || n.op === 'constant' || n.op === 'input');
  const origins: number[] = []; // each node's node of `graph` (errors name the op the user wrote)
  const g = expandOps(graph, toExpand, origins);
  const m = new OnnxModel();
  const names = new Map<number, string>();
  const symbols = new Map<string, string>(); // symbol -> int64 [1] tensor of its run-time value
  // dequantize nodes and the params they read are lowered where first read: a product that becomes
  // MatMulNBits reads the codes repacked, and neither the float matrix nor the int32 words are written
  const readByDequantize = new Set(g.nodes.flatMap((n) => (n.op === 'dequantize' ? n.inputs : [])));
  const value = (id: number): string => names.get(id) ?? lowerOnFirstRead(g.nodes[id]!);
  const at = (node: GraphNode, i: number): string => value(node.inputs[i]!);
  const typeOf = (id: number) => g.nodes[id]!.type;
  const whereOf = (node: GraphNode) => {
    const origin = graph.nodes[origins[node.id]!]!;
    return `onnx export: ${node.op}${origin.op === node.op ? '' : ` of ${origin.op}`} (node %${origin.id}${node.source ? `, at ${node.source}` : ''})`;
  };

  // each symbol's value, read from the first input that has it
  for (const node of g.nodes) {
    if (node.op !== 'input') continue;
    node.type.shape.forEach((d, axis) => {
      if (typeof d !== 'string' || parseDim(d).symbols.length !== 1 || parseDim(d).factor !== 1 || symbols.has(d)) return;
      const shape = m.node('Shape', [String(node.attrs['name'])]);
      symbols.set(d, m.node('Gather', [shape, m.int64s([axis])], { axis: { int: 0 } }));
    });
  }
  /** An int64 [1] tensor holding the run-time value of a dim. */
  const dimValue = (d: Dim, where: string): string => {
    if (typeof d === 'number') return m.int64s([d]);
    const { factor, symbols: parts } = parseDim(d);
    let value = parts.length === 0 ? m.int64s([factor]) : undefined;
    for (const s of parts) {
      const v = symbols.get(s);
      if (!v) throw new OnnxExportError(`${where}: the symbol '${s}' appears in no graph input, so its run-time value is unknown`);
      value = value ? m.node('Mul', [value, v]) : v;
    }
    return factor !== 1 && parts.length > 0 ? m.node('Mul', [value!, m.int64s([factor])]) : value!;
  };
  const cast = (value: string, to: number) => m.node('Cast', [value], { to: { int: to } });

  /** A param's weight, checked against its declaration. */
  const weightOf = (node: GraphNode): NDArray => {
    const name = String(node.attrs['name']);
    const w = weights.get(name);
    if (!w) throw new OnnxExportError(`${whereOf(node)}: no weight '${name}'`);
    checkWeight(whereOf(node), name, w, node);
    return w;
  };
  // quantized weights: what a dequantize states, its codes repacked (once per weight and layout)
  const blocks = new Map<string, string>();
  const zeroPointBlobs = new Map<string, string | undefined>();
  const quantized = (deq: GraphNode) => {
    const a = deq.attrs;
    const codes = g.nodes[deq.inputs[0]!]!;
    if (codes.op !== 'param') throw new OnnxExportError(`${whereOf(deq)}: the codes must be a weight (a param), to be repacked for ONNX; they are computed by ${codes.op} (node %${codes.id})`);
    const layout: QuantizedLayout = { bits: a['bits'] as 8 | 4, group: a['group'] as number, k: a['k'] as number, n: codes.type.shape[0] as number };
    const name = String(codes.attrs['name']);
    const key = `${name}/${layout.bits}/${layout.group}/${layout.k}`;
    if (!blocks.has(key)) blocks.set(key, packedCodes(m, name, weightOf(codes).data, layout, (message) => new OnnxExportError(`${whereOf(deq)}: ${message}`)));
    const zeroPoints = a['zeroPoints'] ? g.nodes[deq.inputs[2]!]! : undefined;
    return { layout, transpose: a['transpose'] === true, blocks: blocks.get(key)!, scales: deq.inputs[1]!, zeroPoints };
  };
  /** MatMulNBits' packed zero points of a dequantize's, when they are a weight of integer codes. */
  const nbitsZeroPoints = (node: GraphNode, layout: QuantizedLayout): string | undefined => {
    if (node.op !== 'param') return undefined;
    const key = `${String(node.attrs['name'])}/${layout.bits}/${layout.group}/${layout.k}`;
    if (!zeroPointBlobs.has(key)) zeroPointBlobs.set(key, packedZeroPoints(m, String(node.attrs['name']), weightOf(node).data, layout));
    return zeroPointBlobs.get(key);
  };
  /** A matmul of a dequantized B as MatMulNBits, when its group and zero points allow; else undefined. */
  const asMatMulNBits = (node: GraphNode): string | undefined => {
    const deq = g.nodes[node.inputs[1]!]!;
    // B = dequantize(...) is W [K, N], or W^T read transposed: both the product with W
    if (deq.op !== 'dequantize' || (deq.attrs['transpose'] === true) !== (node.attrs['transposeB'] === true) || !matMulNBitsTakes(deq.attrs['group'] as number)) return undefined;
    const q = quantized(deq);
    const zeroPoints = q.zeroPoints && nbitsZeroPoints(q.zeroPoints, q.layout);
    if (q.zeroPoints && !zeroPoints) return undefined;
    return matMulNBits(m, at(node, 0), q.blocks, value(q.scales), zeroPoints, q.layout);
  };
  function lowerOnFirstRead(node: GraphNode): string {
    let out: string;
    if (node.op === 'param') {
      out = m.tensor(String(node.attrs['name']), weightOf(node));
    } else if (node.op === 'dequantize') {
      const q = quantized(node);
      out = dequantizeStandard(m, q.blocks, value(q.scales), q.zeroPoints && value(q.zeroPoints.id), { ...q.layout, transpose: q.transpose });
    } else {
      throw new Error(`onnx export: node %${node.id} (${node.op}) is read before it is lowered`);
    }
    names.set(node.id, out);
    return out;
  }

  for (const node of g.nodes) {
    const a = node.attrs as Record<string, unknown>;
    const where = whereOf(node);
    let out: string;
    if (node.op === 'input') {
      out = String(a['name']);
      m.input(out, node.type.dtype, node.type.shape);
    } else if (node.op === 'param') {
      const w = weightOf(node); // checked now, read or not
      if (readByDequantize.has(node.id)) continue;
      out = m.tensor(String(a['name']), w);
    } else if (node.op === 'dequantize') {
      continue; // where first read (lowerOnFirstRead), unless a MatMulNBits reads its codes instead
    } else if (node.op === 'constant') {
      out = constantTensor(m, node);
    } else if (node.op === 'range') {
      const start = a['start'] as number;
      const step = a['step'] as number;
      const size = dimValue(a['size'] as Dim, where); // int64 [1]
      const to = node.type.dtype === 'f32' ? OnnxDataType.FLOAT : OnnxDataType.INT64;
      const scalar = (v: string) => m.node('Squeeze', [v, m.int64s([0])]);
      const first = cast(m.int64s([start], []), to);
      const limit = m.node('Add', [first, m.node('Mul', [cast(scalar(size), to), cast(m.int64s([step], []), to)])]);
      const r = m.node('Range', [first, limit, cast(m.int64s([step], []), to)]);
      out = node.type.dtype === 'f32' ? r : cast(r, OnnxDataType.INT32);
    } else if (UNARY[node.op]) {
      out = m.node(UNARY[node.op]!, [at(node, 0)]);
    } else if (node.op === 'rsqrt') {
      out = m.node('Reciprocal', [m.node('Sqrt', [at(node, 0)])]);
    } else if (node.op === 'gelu' || node.op === 'gelu_tanh') {
      out = m.node('Gelu', [at(node, 0)], { approximate: { string: node.op === 'gelu' ? 'none' : 'tanh' } });
    } else if (BINARY[node.op]) {
      out = m.node(BINARY[node.op]!, [at(node, 0), at(node, 1)]);
    } else if (node.op === 'broadcast_like') {
      // a broadcast to both shapes: Expand broadcasts numpy-style, b's values are not read
      out = m.node('Expand', [at(node, 0), m.node('Shape', [at(node, 1)])]);
    } else if (COMPARE[node.op]) {
      const [op, negate] = COMPARE[node.op]!;
      const b = m.node(op, [at(node, 0), at(node, 1)]);
      out = cast(negate ? m.node('Not', [b]) : b, OnnxDataType.INT32);
    } else if (node.op === 'logical_and' || node.op === 'logical_or' || node.op === 'logical_not') {
      const bools = node.inputs.map((_, i) => cast(at(node, i), OnnxDataType.BOOL));
      out = cast(m.node({ logical_and: 'And', logical_or: 'Or', logical_not: 'Not' }[node.op], bools), OnnxDataType.INT32);
    } else if (node.op === 'where') {
      out = m.node('Where', [cast(at(node, 0), OnnxDataType.BOOL), at(node, 1), at(node, 2)]);
    } else if (node.op === 'cast') {
      out = cast(at(node, 0), a['dtype'] === 'f32' ? OnnxDataType.FLOAT : OnnxDataType.INT32);
    } else if (node.op === 'matmul') {
      const nbits = asMatMulNBits(node);
      if (nbits) {
        out = nbits;
      } else {
        let b = at(node, 1);
        if (a['transposeB']) {
          const rank = typeOf(node.inputs[1]!).shape.length;
          const perm = [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];
          b = m.node('Transpose', [b], { perm: { ints: perm } });
        }
        out = m.node('MatMul', [at(node, 0), b]);
      }
    } else if (REDUCE[node.op]) {
      const rank = typeOf(node.inputs[0]!).shape.length;
      const axes = (a['axes'] as number[]).map((x) => normalizeAxis(x, rank)!);
      out = m.node(REDUCE[node.op]!, [at(node, 0), m.int64s(axes)], { keepdims: { int: a['keepDims'] ? 1 : 0 } });
    } else if (node.op === 'softmax') {
      out = m.node('Softmax', [at(node, 0)], { axis: { int: a['axis'] as number } });
    } else if (node.op === 'layer_norm') {
      out = m.node('LayerNormalization', [at(node, 0), at(node, 1), at(node, 2)], { axis: { int: -1 }, epsilon: { float: a['eps'] as number } });
    } else if (node.op === 'top_k') {
      // ONNX's TopK orders ties by the lower index too (sorted, largest); its indices are int64
      const [values, indices] = m.nodeOutputs('TopK', [at(node, 0), m.int64s([a['k'] as number])], { axis: { int: -1 }, largest: { int: 1 }, sorted: { int: 1 } }, 2);
      out = a['output'] === 'indices' ? cast(indices!, OnnxDataType.INT32) : values!;
    } else if (node.op === 'expert_matmul') {
      // each id's whole matrix gathered ([..., J, K, N]), then one product per row: correct, not sparse
      const rank = typeOf(node.inputs[2]!).shape.length + 2;
      let w = m.node('Gather', [at(node, 1), at(node, 2)], { axis: { int: 0 } });
      if (a['transposeB']) w = m.node('Transpose', [w], { perm: { ints: [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2] } });
      const rows = m.node('Unsqueeze', [at(node, 0), m.int64s([-2])]); // [..., J or 1, 1, K]
      out = m.node('Squeeze', [m.node('MatMul', [rows, w]), m.int64s([-2])]);
      if (a['sum']) out = m.node('ReduceSum', [out, m.int64s([-2])], { keepdims: { int: 0 } }); // the J products added
    } else if (node.op === 'gather') {
      out = m.node('Gather', [at(node, 0), at(node, 1)], { axis: { int: 0 } });
    } else if (node.op === 'reshape') {
      // the target shape from the node's own (resolved) type: symbolic sizes read at run time
      const parts = node.type.shape.map((d) => dimValue(d, where));
      out = m.node('Reshape', [at(node, 0), parts.length === 0 ? m.int64s([], [0]) : parts.length === 1 ? parts[0]! : m.node('Concat', parts, { axis: { int: 0 } })]);
    } else if (node.op === 'transpose') {
      out = m.node('Transpose', [at(node, 0)], { perm: { ints: a['perm'] as number[] } });
    } else if (node.op === 'slice') {
      const end = a['end'] as number | null;
      out = m.node('Slice', [at(node, 0), m.int64s([a['start'] as number]), m.int64s([end ?? TO_END]), m.int64s([a['axis'] as number]), m.int64s([a['step'] as number])]);
    } else if (node.op === 'concat') {
      out = m.node('Concat', node.inputs.map((_, i) => at(node, i)), { axis: { int: a['axis'] as number } });
    } else {
      throw new OnnxExportError(`${where}: no ONNX form (${node.op === 'cache_update' ? 'KV-cache graphs are not exported; export the full-sequence graph' : 'unsupported op'})`);
    }
    names.set(node.id, out);
  }
  // outputs under their graph names (Identity when one value is output twice or is an input)
  for (const { name, node } of g.outputs) {
    m.node('Identity', [value(node)], {}, name);
    m.output(name, g.nodes[node]!.type.dtype, g.nodes[node]!.type.shape);
  }
  const externalAbove = Math.min(options.externalAbove ?? MAX_INLINE_BYTES, MAX_INLINE_BYTES);
  return m.encode({ opset: ONNX_OPSET, producer: 'loom', externalAbove, externalName: options.externalName ?? 'model.onnx.data' });
}

/**
 * The bytes of the initializers exportOnnx makes for the graph's params and constants, from their
 * sizes alone (no weight is read; quantized codes and zero points at their repacked size): what
 * decides, before the export, whether the weights go to an external data file
 * (`onnxDataIsExternal`). It leaves out the few bytes of int64 shapes and axes the lowering adds, so
 * it is at most what the export counts.
 */
export function onnxWeightBytes(graph: Graph): number {
  let bytes = 0;
  const quantized = quantizedParamBytes(graph); // codes and zero points, repacked
  for (const node of graph.nodes) {
    const shape = node.type.shape;
    if (!shape.every((d): d is number => typeof d === 'number')) continue;
    if (node.op === 'param') bytes += quantized.get(node.id) ?? sizeOf(shape) * 4;
    else if (node.op === 'constant') bytes += (node.attrs['values'] as readonly number[]).length === sizeOf(shape) ? sizeOf(shape) * 4 : 4;
  }
  return bytes;
}

/** Whether exportOnnx with these options will put the graph's weights in an external data file, known before the export (onnxWeightBytes). */
export function onnxDataIsExternal(graph: Graph, options: OnnxExportOptions = {}): boolean {
  return onnxWeightBytes(graph) > Math.min(options.externalAbove ?? MAX_INLINE_BYTES, MAX_INLINE_BYTES);
}

/** A weight must be what its param declares, its data exactly its elements: the file records the declared shape. */
function checkWeight(where: string, name: string, w: NDArray, node: GraphNode): void {
  const declared = `${node.type.dtype}[${node.type.shape.join(', ')}]`;
  if (w.dtype !== node.type.dtype || !shapeEquals(w.shape, node.type.shape)) throw new OnnxExportError(`${where}: weight '${name}' is ${w.dtype}[${w.shape.join(', ')}], the graph declares ${declared}`);
  if (w.data.length !== sizeOf(w.shape)) throw new OnnxExportError(`${where}: weight '${name}' holds ${w.data.length} values for ${declared} (${sizeOf(w.shape)} elements)`);
}

/**
 * A constant node as an initializer. One stored filled (a single value for a larger shape) becomes
 * that scalar expanded to its shape at run time, so a mask of any size costs 4 bytes in the file.
 */
function constantTensor(m: OnnxModel, node: GraphNode): string {
  const shape = (node.attrs['shape'] as number[] | undefined) ?? [];
  const values = node.attrs['values'] as number[];
  const size = sizeOf(shape);
  const store = (dims: number[], data: readonly number[]) => m.tensor(m.name('const'), { dtype: node.type.dtype, shape: dims, data: node.type.dtype === 'f32' ? Float32Array.from(data) : Int32Array.from(data) } as NDArray);
  if (values.length === size) return store(shape, values);
  return m.node('Expand', [store([], [values[0] ?? 0]), m.int64s(shape)]);
}

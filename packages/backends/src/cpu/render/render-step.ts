import { attentionInputs, getOp, hasAttentionExtras, isOpName, normalizeAxis, quantizedExtrasStart, type Expr, type Graph, type GraphNode, type OpName } from '@loom/graph';
import { primitiveExpr } from '../../expr/primitive-expr.ts';
import type { AttrsOf } from '../../op-attrs.ts';
import { UnsupportedKernelError } from '../errors.ts';
import { renderElementwiseLoop, type LoopInput } from './elementwise-js.ts';
import { matchEpilogue } from './matmul-epilogue.ts';
import { call } from './runtime-call.ts';

/** What a step renderer sees: the node, its attributes as the op table parses them, the graph. */
interface StepContext<K extends OpName> {
  readonly graph: Graph;
  readonly node: GraphNode;
  readonly attrs: AttrsOf<K>;
  /** The output's rank. */
  readonly rank: number;
}

/**
 * JavaScript source for the body of one kernel:
 *   function (ins, out, inShapes, outShape, layouts) { <body> }   with `rt` (the CpuRuntime) in scope.
 * `layouts[k]` is input k's strided layout where the plan made it a view, else undefined.
 */
type StepRenderer<K extends OpName> = (step: StepContext<K>) => string;

function loopInputs(graph: Graph, node: GraphNode): LoopInput[] {
  return node.inputs.map((id, k) => ({ array: `ins[${k}]`, shape: `inShapes[${k}]`, dtype: graph.nodes[id]!.type.dtype, staticShape: graph.nodes[id]!.type.shape }));
}

const quote = (text: string): string => `'${text}'`;

/** A fused matmul: the product, then its epilogue in place (the WebAssembly kernel's where it matches). */
function matmulWithEpilogue({ graph, node, attrs }: StepContext<'fused_matmul' | 'fused_matmul_rope'>, withOffset: boolean): string {
  const product = (spec: string) => call('matmul', 'ins[0]', 'layouts[0]', 'ins[1]', 'out', 'inShapes[0]', 'inShapes[1]', 'outShape', attrs.transposeB, spec);
  return productWithEpilogue(graph, node, attrs.epilogue, 2, withOffset, product);
}

/**
 * `product(spec)` (a runtime call returning whether it ran the epilogue), then the epilogue in place
 * unless the WebAssembly kernel matched and ran it. Epilogue input k >= 1 is node input extrasStart + k - 1.
 */
function productWithEpilogue(graph: Graph, node: GraphNode, epilogueExpr: Expr, extrasStart: number, withOffset: boolean, product: (spec: string) => string): string {
  // the epilogue runs in place on the product: its input 0 is `out`
  const out: LoopInput = { array: 'out', shape: 'outShape', dtype: 'f32', staticShape: node.type.shape };
  const extras = loopInputs(graph, node).slice(extrasStart, withOffset ? -1 : undefined);
  const epilogue = renderElementwiseLoop(epilogueExpr, [out, ...extras], node.type.shape);
  const simd = matchEpilogue(epilogueExpr, [node.type.shape, ...extras.map((e) => e.staticShape)], node.type.shape);
  const input = (k: number) => `ins[${k + extrasStart - 1}]`;
  const spec = simd ? `{ bias: ${simd.bias ? input(simd.bias) : 'undefined'}, residual: ${simd.residual ? input(simd.residual) : 'undefined'}, act: ${simd.act} }` : 'undefined';
  // the WebAssembly kernel runs a matched epilogue itself (true), else the loop below does
  return `if (!${product(spec)}) {\n${epilogue}\n}`;
}

function reduceStep({ graph, node, attrs }: StepContext<'reduce_sum' | 'reduce_mean' | 'reduce_max'>): string {
  const inRank = graph.nodes[node.inputs[0]!]!.type.shape.length;
  const axes = attrs.axes.map((x) => normalizeAxis(x, inRank)!).sort((p, q) => p - q);
  return `${call('reduce', quote(node.op.slice('reduce_'.length)), 'ins[0]', 'out', 'inShapes[0]', `[${axes.join(', ')}]`)};`;
}

/**
 * The cpu's step renderers by op; each one's attributes typed by the op table. Elementwise work is
 * generated in full; structured kernels call the runtime's helpers (../runtime.ts) through `call`.
 * Every op of category 'elementwise' shares one renderer (renderStep); reshape is a view.
 */
const CPU_STEPS: { readonly [K in OpName]?: StepRenderer<K> } = {
  fused_elementwise: ({ graph, node, attrs }) => renderElementwiseLoop(attrs.expr, loopInputs(graph, node), node.type.shape),
  // input 0 may be a strided view (layouts[0]): packed from its transpose in place, or made dense by block copies
  matmul: ({ attrs }) => `${call('matmul', 'ins[0]', 'layouts[0]', 'ins[1]', 'out', 'inShapes[0]', 'inShapes[1]', 'outShape', attrs.transposeB)};`,
  fused_matmul: (step) => matmulWithEpilogue(step, false),
  quantize_activations: ({ attrs, rank }) => `${call('quantizeActivations', 'rt.dense(ins[0], layouts[0])', 'out', `outShape[${rank - 1}]`, attrs.group)};`,
  dequantize: ({ attrs }) => `${call('dequantize', 'ins[0]', 'ins[1]', attrs.zeroPoints ? 'ins[2]' : 'undefined', 'out', attrs.bits, attrs.group, attrs.k, attrs.transpose)};`,
  quantized_matmul: ({ graph, node, attrs }) => {
    const zeroPoints = attrs.zeroPoints ? 'ins[3]' : 'undefined';
    const product = (spec: string) => call('quantizedMatmul', 'ins[0]', 'layouts[0]', 'ins[1]', 'inShapes[1]', 'ins[2]', zeroPoints, 'out', 'inShapes[0]', attrs.bits, attrs.group, attrs.activations === 'int8', spec);
    return productWithEpilogue(graph, node, attrs.epilogue, quantizedExtrasStart(attrs), false, product);
  },
  fused_matmul_rope: (step) => {
    const { node, attrs } = step;
    // then the rows just written rotate in place, head by head ([B, T, H * Dh] read as [B, T, H, Dh])
    const offset = attrs.offset ? `ins[${node.inputs.length - 1}]` : 'undefined';
    const shape = `[outShape[0], outShape[1], ${attrs.heads}, outShape[2] / ${attrs.heads}]`;
    return `${matmulWithEpilogue(step, attrs.offset)}\n${call('rope', 'out', offset, 'out', shape, attrs.theta, quote(attrs.style), attrs.fraction)};`;
  },
  softmax: ({ attrs, rank }) => `${call('softmax', 'ins[0]', 'out', 'outShape', normalizeAxis(attrs.axis, rank)!)};`,
  rope: ({ attrs }) => `${call('rope', 'ins[0]', 'ins[1]', 'out', 'outShape', attrs.theta, quote(attrs.style), attrs.fraction)};`,
  rms_norm: ({ attrs }) => `${call('rmsNorm', 'ins[0]', 'ins[1]', 'out', 'outShape[outShape.length - 1]', attrs.eps, attrs.weightOffset)};`,
  fused_add_rms_norm: ({ attrs }) => `${call('rmsNorm', 'ins[0]', 'ins[2]', 'out', 'outShape[outShape.length - 1]', attrs.eps, attrs.weightOffset, 'ins[1]')};`,
  layer_norm: ({ attrs }) => `${call('layerNorm', 'ins[0]', 'undefined', 'ins[1]', 'ins[2]', 'out', 'outShape[outShape.length - 1]', attrs.eps)};`,
  fused_add_layer_norm: ({ attrs }) => `${call('layerNorm', 'ins[0]', 'ins[1]', 'ins[2]', 'ins[3]', 'out', 'outShape[outShape.length - 1]', attrs.eps)};`,
  reduce_sum: reduceStep,
  reduce_mean: reduceStep,
  reduce_max: reduceStep,
  // q, k and v may be strided views (column slices, head splits): the kernel reads them in place
  fused_attention: ({ node, attrs }) => {
    // which inputs are the mask and the positions (fused_attention's own reading of its inputs)
    const { mask, qPositions, kPositions } = attentionInputs(node.inputs.map((_, i) => i), attrs);
    if (!hasAttentionExtras(attrs)) return `${call('attention', 'ins', 'inShapes', 'layouts', 'out', 'outShape', attrs.scale, mask !== undefined)};`;
    const positions = attrs.positions ? `, qPositions: { data: ins[${qPositions}], shape: inShapes[${qPositions}] }, kPositions: { data: ins[${kPositions}], shape: inShapes[${kPositions}] }` : '';
    const extras = `{ softcap: ${attrs.softcap}, alibi: ${JSON.stringify(attrs.alibi)}, causal: ${attrs.causal}, window: ${attrs.window}${positions} }`;
    return `${call('attention', 'ins', 'inShapes', 'layouts', 'out', 'outShape', attrs.scale, mask !== undefined, extras)};`;
  },
  gather: ({ graph, node }) => {
    const table = graph.nodes[node.inputs[0]!]!;
    const name = table.op === 'param' ? quote(String(table.attrs['name'])) : `node %${table.id}`;
    return `${call('gather', 'ins[0]', 'ins[1]', 'out', 'inShapes[0][0]', 'out.length / Math.max(ins[1].length, 1)', JSON.stringify(name))};`;
  },
  transpose: ({ attrs }) => `${call('transpose', 'ins[0]', 'out', 'inShapes[0]', `[${attrs.perm.join(', ')}]`)};`,
  slice: ({ attrs, rank }) => {
    const axis = normalizeAxis(attrs.axis, rank)!;
    return [
      `const dim = inShapes[0][${axis}]; let start = ${attrs.start}; if (start < 0) start += dim; start = Math.min(Math.max(start, 0), dim);`,
      `${call('slice', 'ins[0]', 'out', 'inShapes[0]', axis, 'start', attrs.step, `outShape[${axis}]`)};`,
    ].join('\n');
  },
  concat: ({ attrs, rank }) => `${call('concat', 'ins', 'inShapes', 'out', 'outShape', normalizeAxis(attrs.axis, rank)!)};`,
  cache_update: ({ attrs, rank }) => {
    const axis = normalizeAxis(attrs.axis, rank)!;
    return [
      '// in place when the plan gave the cache and the result one buffer (a state)',
      'if (out !== ins[0]) out.set(ins[0]);',
      `${call('writeBlock', 'out', call('dense', 'ins[1]', 'layouts[1]'), 'outShape', 'inShapes[1]', axis, 'ins[2]', `{ rolling: ${attrs.rolling}, counts: ins[3] }`)};`,
    ].join('\n');
  },
  // out: [rows, width], the rows the indices name; width from the table's shape
  scatter_add: () => `${call('scatterAdd', 'ins[0]', 'ins[1]', 'out', 'outShape[0]', 'out.length / Math.max(outShape[0], 1)')};`,
  softmax_cross_entropy: ({ attrs }) =>
    `${call('softmaxCrossEntropy', 'ins[0]', 'ins[1]', 'out', 'inShapes[0][inShapes[0].length - 1]', attrs.ignoreIndex === null ? 'null' : attrs.ignoreIndex, attrs.labelSmoothing)};`,
  expert_matmul: ({ attrs }) => `${call('expertMatmul', 'ins[0]', 'ins[1]', 'inShapes[1]', 'ins[2]', 'inShapes[2]', 'out', attrs.transposeB, attrs.sum)};`,
  top_k: ({ attrs }) => `${call('topK', 'ins[0]', 'inShapes[0][inShapes[0].length - 1]', attrs.k, quote(attrs.output), 'out')};`,
  dropout: ({ attrs }) => `${call('dropout', 'ins[0]', 'ins[1]', 'out', attrs.p, attrs.stream)};`,
  range: ({ attrs }) => `for (let i = 0; i < out.length; i++) out[i] = ${attrs.start} + i * ${attrs.step};`,
};

/** The body of the kernel for `node` (see StepRenderer), or UnsupportedKernelError naming the op. */
export function renderStep(graph: Graph, node: GraphNode): string {
  if (!isOpName(node.op)) throw new UnsupportedKernelError(node.op);
  if (getOp(node.op).category === 'elementwise') return renderElementwiseLoop(primitiveExpr(node), loopInputs(graph, node), node.type.shape);
  const render = CPU_STEPS[node.op] as StepRenderer<OpName> | undefined;
  if (!render) throw new UnsupportedKernelError(node.op);
  return render({ graph, node, attrs: node.attrs as never, rank: node.type.shape.length });
}

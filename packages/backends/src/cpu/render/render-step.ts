import { BINARY_FUNCTIONS, COMPARE_FUNCTIONS, UNARY_FUNCTIONS, LoomError, normalizeAxis, type Expr, type Graph, type GraphNode } from '@loom/graph';
import { renderElementwiseLoop, type LoopInput } from './elementwise-js.ts';
import { matchEpilogue } from './matmul-epilogue.ts';

/** Raised when the CPU backend has no kernel for an op: named, never a silent fallback. */
export class UnsupportedKernelError extends LoomError {
  constructor(op: string) {
    super('unsupported-kernel', `cpu: no kernel for op '${op}'`);
  }
}

const ELEMENTWISE = new Set<string>([...Object.keys(UNARY_FUNCTIONS), ...Object.keys(BINARY_FUNCTIONS), ...Object.keys(COMPARE_FUNCTIONS), 'where', 'cast']);

/** A primitive elementwise node as a one-op expression, so it shares the fused kernel's renderer. */
function nodeExpr(node: GraphNode): Expr {
  const args = node.inputs.map((_, k) => ({ in: k }));
  return node.op === 'cast' ? { op: 'cast', args, dtype: node.attrs['dtype'] as 'f32' | 'i32' } : { op: node.op, args };
}

function loopInputs(graph: Graph, node: GraphNode): LoopInput[] {
  return node.inputs.map((id, k) => ({ array: `ins[${k}]`, shape: `inShapes[${k}]`, dtype: graph.nodes[id]!.type.dtype, staticShape: graph.nodes[id]!.type.shape }));
}

/**
 * JavaScript source for the body of one kernel:
 *   function (ins, out, inShapes, outShape) { <body> }   with `rt` (runtime helpers) in scope.
 * Elementwise work is generated in full; structured kernels call the shared helpers in ../kernels.
 */
export function renderStep(graph: Graph, node: GraphNode): string {
  const a = node.attrs as Record<string, unknown>;
  const rank = node.type.shape.length;
  if (ELEMENTWISE.has(node.op)) return renderElementwiseLoop(nodeExpr(node), loopInputs(graph, node), node.type.shape);
  switch (node.op) {
    case 'fused_elementwise':
      return renderElementwiseLoop(a['expr'] as Expr, loopInputs(graph, node), node.type.shape);
    case 'matmul':
      // input 0 may be a strided view (layouts[0]): made dense here, by block copies
      return `rt.matmul(rt.dense(ins[0], layouts[0]), ins[1], out, inShapes[0], inShapes[1], outShape, ${Boolean(a['transposeB'])});`;
    case 'fused_matmul':
    case 'fused_matmul_rope': {
      // the epilogue runs in place on the product: its input 0 is `out`, extras are inputs 2..
      const product: LoopInput = { array: 'out', shape: 'outShape', dtype: 'f32', staticShape: node.type.shape };
      const withOffset = node.op === 'fused_matmul_rope' && Boolean(a['offset']);
      const extras = loopInputs(graph, node).slice(2, withOffset ? -1 : undefined);
      const epilogue = renderElementwiseLoop(a['epilogue'] as Expr, [product, ...extras], node.type.shape);
      const simd = matchEpilogue(a['epilogue'] as Expr, [node.type.shape, ...extras.map((e) => e.staticShape)], node.type.shape);
      const spec = simd ? `{ bias: ${simd.bias ? `ins[${simd.bias + 1}]` : 'undefined'}, residual: ${simd.residual ? `ins[${simd.residual + 1}]` : 'undefined'}, act: ${simd.act} }` : 'undefined';
      // the WebAssembly kernel runs a matched epilogue itself (true), else the loop below does
      const matmul = `if (!rt.matmul(rt.dense(ins[0], layouts[0]), ins[1], out, inShapes[0], inShapes[1], outShape, ${Boolean(a['transposeB'])}, ${spec})) {\n${epilogue}\n}`;
      if (node.op === 'fused_matmul') return matmul;
      // then the rows just written rotate in place, head by head ([B, T, H * Dh] read as [B, T, H, Dh])
      const heads = a['heads'] as number;
      const offset = withOffset ? `ins[${node.inputs.length - 1}]` : 'undefined';
      return `${matmul}\nrt.rope(out, ${offset}, out, [outShape[0], outShape[1], ${heads}, outShape[2] / ${heads}], ${a['theta']}, '${a['style']}', ${a['fraction']});`;
    }
    case 'softmax':
      return `rt.softmax(ins[0], out, outShape, ${normalizeAxis(a['axis'] as number, rank)});`;
    case 'rope':
      return `rt.rope(ins[0], ins[1], out, outShape, ${a['theta']}, '${a['style']}', ${a['fraction']});`;
    case 'rms_norm':
      return `rt.rmsNorm(ins[0], ins[1], out, outShape[outShape.length - 1], ${a['eps']}, ${a['weightOffset']});`;
    case 'fused_add_rms_norm':
      return `rt.rmsNorm(ins[0], ins[2], out, outShape[outShape.length - 1], ${a['eps']}, ${a['weightOffset']}, ins[1]);`;
    case 'layer_norm':
      return `rt.layerNorm(ins[0], undefined, ins[1], ins[2], out, outShape[outShape.length - 1], ${a['eps']});`;
    case 'fused_add_layer_norm':
      return `rt.layerNorm(ins[0], ins[1], ins[2], ins[3], out, outShape[outShape.length - 1], ${a['eps']});`;
    case 'reduce_sum':
    case 'reduce_mean':
    case 'reduce_max': {
      const inRank = graph.nodes[node.inputs[0]!]!.type.shape.length;
      const axes = (a['axes'] as number[]).map((x) => normalizeAxis(x, inRank)!).sort((p, q) => p - q);
      return `rt.reduce('${node.op.slice('reduce_'.length)}', ins[0], out, inShapes[0], [${axes.join(', ')}]);`;
    }
    case 'fused_attention':
      // q, k and v may be strided views (column slices, head splits): the kernel reads them in place
      return `rt.attention(ins, inShapes, layouts, out, outShape, ${a['scale']});`;
    case 'gather': {
      const table = graph.nodes[node.inputs[0]!]!;
      const name = table.op === 'param' ? `'${String(table.attrs['name'])}'` : `node %${table.id}`;
      return `rt.gather(ins[0], ins[1], out, inShapes[0][0], out.length / Math.max(ins[1].length, 1), ${JSON.stringify(name)});`;
    }
    case 'transpose':
      return `rt.transpose(ins[0], out, inShapes[0], [${(a['perm'] as number[]).join(', ')}]);`;
    case 'slice': {
      const axis = normalizeAxis(a['axis'] as number, rank)!;
      return [
        `const dim = inShapes[0][${axis}]; let start = ${a['start']}; if (start < 0) start += dim; start = Math.min(Math.max(start, 0), dim);`,
        `rt.slice(ins[0], out, inShapes[0], ${axis}, start, ${a['step']}, outShape[${axis}]);`,
      ].join('\n');
    }
    case 'concat':
      return `rt.concat(ins, inShapes, out, outShape, ${normalizeAxis(a['axis'] as number, rank)});`;
    case 'cache_update': {
      const axis = normalizeAxis(a['axis'] as number, rank)!;
      return [
        '// in place when the plan gave the cache and the result one buffer (a state)',
        'if (out !== ins[0]) out.set(ins[0]);',
        `rt.writeBlock(out, rt.dense(ins[1], layouts[1]), outShape, inShapes[1], ${axis}, ins[2]);`,
      ].join('\n');
    }
    case 'range':
      return `for (let i = 0; i < out.length; i++) out[i] = ${a['start']} + i * ${a['step']};`;
    default:
      throw new UnsupportedKernelError(node.op);
  }
}

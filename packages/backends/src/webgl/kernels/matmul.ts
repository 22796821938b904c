import { broadcastStrides, codesPerWord, type Expr } from '@loom/graph';
import { GLSL } from '../../expr/languages/glsl.ts';
import { renderExpr } from '../../expr/render-expr.ts';
import { broadcastOffset, coordinates, imod, int, strideTerms } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext, type TensorInfo } from '../kernel.ts';
import { PassList, reduce, SUM, type Reduction } from '../reduction.ts';
import { WebGlUnsupportedOpError } from '../errors.ts';
import { packedMatmulPasses, PLAIN } from './packed-matmul.ts';

/**
 * Batched matmul, and fused_matmul (the epilogue expression runs on each result before the store):
 * on packed operands where they fit (packed-matmul.ts); else one fragment per output element walks
 * K, four products per iteration, and a K longer than one fragment may walk is summed in chunks,
 * then the chunks (reduction.ts). Batch axes broadcast, B may
 * be transposed ([..., N, K]); epilogue inputs broadcast against the output.
 */
export function matmulKernel(ctx: KernelContext<'matmul'>): GlPass[] {
  return renderMatmul(ctx, ctx.attrs.transposeB, undefined);
}

export function fusedMatmulKernel(ctx: KernelContext<'fused_matmul'>): GlPass[] {
  return renderMatmul(ctx, ctx.attrs.transposeB, ctx.attrs.epilogue);
}

/**
 * A product with a quantized weight: each term unpacks its code from the 24-bit word (a float holds
 * it exactly: division by a power of two, floor and mod stay exact) and scales it.
 */
export function quantizedMatmulKernel(ctx: KernelContext<'quantized_matmul'>): GlPass[] {
  const { bits, group, zeroPoints, epilogue } = ctx.attrs;
  if (ctx.attrs.activations !== 'f32') throw new WebGlUnsupportedOpError('quantized_matmul', `node %${ctx.node.id}: int8 activations reach the WebGL kernels as quantize_activations and a float product (gpuPipeline's split-activation-rounding); this plan was compiled without it`);
  const operands = zeroPoints ? 4 : 3;
  const [a, codes, scales] = ctx.inputs;
  const extras = ctx.inputs.slice(operands);
  const out = ctx.output.shape;
  const size = sizeOfShape(out);
  if (size === 0) return [];
  const N = out[out.length - 1]!;
  const K = a!.shape[a!.shape.length - 1]!;
  const per = codesPerWord(bits);
  const setup = [`int n = ${imod('row', N)};`, `int aBase = (row / ${int(N)}) * ${int(K)};`, `int qBase = n * ${int(codes!.shape[1]!)};`, `int sBase = n * ${int(scales!.shape[1]!)};`];
  const weight = (k: string): string => {
    const g = `sBase + (${k}) / ${int(group)}`;
    const zero = zeroPoints ? sample(3, g) : `${2 ** (bits - 1)}.0`;
    return `(${sample(2, g)} * (${codeOf(sample(1, `qBase + (${k}) / ${int(per)}`), imod(`(${k})`, per), bits)} - ${zero}))`;
  };
  const inputs = Array.from({ length: operands }, (_, k) => input(k));
  const product: Reduction = { what: ctx.node.op, rows: size, count: K, inputs, setup, term: (k) => `${sample(0, `aBase + ${k}`)} * ${weight(k)}`, fold: SUM, unroll: 4 };
  const list = new PassList();
  const plain = epilogue && !('in' in epilogue && epilogue.in === 0) ? epilogue : undefined;
  reduce(list, plain ? { ...product, ...epilogueFinish(plain, extras, out, operands) } : product, ctx.limits.maxLoopIterations);
  return list.passes;
}

/** Code `t` (an int expression) of a 24-bit word held in a float: floor(word / 2^(t bits)) mod 2^bits. */
export function codeOf(word: string, t: string, bits: 8 | 4): string {
  const per = codesPerWord(bits);
  let divisor = `${2 ** ((per - 1) * bits)}.0`;
  for (let u = per - 2; u >= 0; u--) divisor = `(${t} == ${u} ? ${2 ** (u * bits)}.0 : ${divisor})`;
  return `mod(floor(${word} / ${divisor}), ${2 ** bits}.0)`;
}

function renderMatmul(ctx: KernelContext, transposeB: boolean, epilogue: Expr | undefined): GlPass[] {
  const [a, b, ...extras] = ctx.inputs;
  const out = ctx.output.shape;
  const size = sizeOfShape(out);
  if (size === 0) return [];
  const ending = epilogue ? epilogueFinish(epilogue, extras, out, 2) : undefined;
  const packed = packedMatmulPasses(ctx, transposeB, ending ? { inputs: ending.finishInputs, helpers: ending.helpers, lines: ending.finish } : PLAIN);
  if (packed) return packed;
  const rank = out.length;
  const [M, N] = [out[rank - 2]!, out[rank - 1]!];
  const K = a!.shape[a!.shape.length - 1]!;
  const batchShape = out.slice(0, -2);
  const aStrides = broadcastStrides(a!.shape.slice(0, -2), batchShape).map((s) => s * M * K);
  const bStrides = broadcastStrides(b!.shape.slice(0, -2), batchShape).map((s) => s * K * N);
  const aBase = [...strideTerms(aStrides, batchShape, 'o'), `oc${rank - 2} * ${int(K)}`].join(' + ');
  // B's element (k, n) at k * N + n, or transposed at n * K + k
  const bBase = [...strideTerms(bStrides, batchShape, 'o'), ...(transposeB ? [`oc${rank - 1} * ${int(K)}`] : [`oc${rank - 1}`])].join(' + ');
  const bStep = transposeB ? 1 : N;
  const aAt = (k: string) => sample(0, `aBase + ${k}`);
  const bAt = (k: string) => sample(1, bStep === 1 ? `bBase + ${k}` : `bBase + (${k}) * ${int(bStep)}`);
  const setup = [...coordinates('row', out, 'o'), `int aBase = ${aBase};`, `int bBase = ${bBase};`];
  const product: Reduction = { what: ctx.node.op, rows: size, count: K, inputs: [input(0), input(1)], setup, term: (k) => `${aAt(k)} * ${bAt(k)}`, fold: SUM, unroll: 4 };
  const list = new PassList();
  reduce(list, ending ? { ...product, ...ending } : product, ctx.limits.maxLoopIterations);
  return list.passes;
}

/** The epilogue on `acc` in the last pass, its inputs (the step's inputs from `first`) broadcast against the output. */
function epilogueFinish(epilogue: Expr, extras: readonly TensorInfo[], out: readonly number[], first: number): Required<Pick<Reduction, 'finish' | 'finishInputs' | 'helpers'>> {
  const rendered = renderExpr(GLSL, epilogue, [{ value: 'acc', dtype: 'f32' }, ...extras.map((x, k) => ({ value: `xv${k}`, dtype: x.dtype }))]);
  const finish = (at: (k: number, index: string) => string) => {
    const loads = extras.flatMap((x, k) => {
      const { lines, offset } = broadcastOffset('row', x.shape, out, `x${k}_`);
      return [...lines, `float xv${k} = ${at(k, offset)};`];
    });
    return [...loads, ...rendered.statements, `return ${rendered.result};`];
  };
  return { finish, finishInputs: extras.map((_, k) => input(first + k)), helpers: rendered.helpers };
}

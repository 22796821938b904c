import { broadcastStrides } from '@loom/graph';
import { coordinates, imod, int, strideTerms } from '../glsl.ts';
import { input, pass, sample, sizeOfShape, type GlPass, type KernelContext, type PassInput } from '../kernel.ts';
import { loopCost } from '../loops.ts';
import { blockAt, blockOfTexel, blockRowStart, packedMatrix, packPass, readBlock, type PackedMatrix } from '../packed.ts';

/**
 * Batched matmul on packed operands (packed.ts): A is packed as it is, B as its transpose (so both
 * walk along texel rows: block k of A's block row m against block k of B^T's block row n), a
 * fragment computes a 2x2 block of the result from two texel reads per pair of k, and a last pass
 * unpacks the result to one float per element for its consumers, running the epilogue there (a
 * result only read back skips it: GlPass.unpacks). B's packing is kept when B is a weight
 * (GlPass.keep): drawn once, for every model on the context using it. A product of one row per
 * matrix, small enough, is one pass instead (rowPass).
 *
 * Returns undefined when a packed operand would not fit a texture or a row of blocks would pass
 * the loop budget; the caller then draws the product element by element (matmul.ts), chunking K.
 */
export function packedMatmulPasses(ctx: KernelContext, transposeB: boolean, finish: Finish): GlPass[] | undefined {
  const [a, b] = ctx.inputs;
  const out = ctx.output.shape;
  const rank = out.length;
  const [M, N] = [out[rank - 2]!, out[rank - 1]!];
  const K = a!.shape[a!.shape.length - 1]!;
  const batchShape = out.slice(0, -2);
  const aBatch = a!.shape.slice(0, -2);
  const bBatch = b!.shape.slice(0, -2);
  const max = ctx.limits.maxTextureSize;
  const packedA = packedMatrix(sizeOfShape(aBatch), M, K, max, true);
  const packedB = packedMatrix(sizeOfShape(bBatch), N, K, max, true);
  const packedC = packedMatrix(sizeOfShape(batchShape), M, N, max, false);
  if (!packedA || !packedB || !packedC || loopCost(Math.floor(packedA.blockCols / UNROLL)) > ctx.limits.maxLoopIterations) return undefined;
  const what = ctx.node.op;
  // B^T: a transposeB operand ([..., N, K]) is packed as it is
  const packB = packPass(input(1), b!.shape, !transposeB, packedB, `${what} B`);
  if (M === 1 && N * K <= ROW_PASS_MOST) return [packB, rowPass(packedB, { M, N, K, batchShape, aBatch, bBatch }, finish, what)];
  const passes = [packPass(input(0), a!.shape, false, packedA, `${what} A`), packB];
  passes.push(productPass(packedA, packedB, packedC, { M, N, K, batchShape, aBatch, bBatch }, what));
  const unpack = unpackPass(pass(2), packedC, out, finish, what);
  passes.push(finish === PLAIN ? { ...unpack, unpacks: { from: 2, layout: packedC, shape: out } } : unpack);
  return passes;
}

/** The last pass's ending: statements from the unpacked value `acc` (with `row` its index) to `return`, reading the step's inputs `inputs` at sample slots 1, 2, ... */
export interface Finish {
  readonly inputs: readonly PassInput[];
  readonly helpers: readonly string[];
  lines(at: (k: number, index: string) => string): string[];
}

/** The finish of a product without an epilogue. */
export const PLAIN: Finish = { inputs: [], helpers: [], lines: () => ['return acc;'] };

interface ProductShape {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly batchShape: readonly number[];
  readonly aBatch: readonly number[];
  readonly bBatch: readonly number[];
}

/**
 * The largest N x K a one-row product takes as one pass (rowPass). Its fragments read A's floats one
 * by one, three reads per pair of k against the blocked product's one: past about this size (on
 * llvmpipe, GPT-2 tiny's tied head: 4.9 ms against 3.1 per token) the two draws it saves cost less
 * than the reads it adds.
 */
const ROW_PASS_MOST = 2 ** 18;

/** Blocks of K per loop iteration (fewer loop tests and counter steps on llvmpipe). */
const UNROLL = 8;

/** One fragment per 2x2 block of the result: acc += A block * B^T block over K's block columns. */
function productPass(packedA: PackedMatrix, packedB: PackedMatrix, packedC: PackedMatrix, shape: ProductShape, what: string): GlPass {
  const { M, N, batchShape } = shape;
  const [mBlocks, nBlocks] = [Math.ceil(M / 2), Math.ceil(N / 2)];
  const kBlocks = packedA.blockCols;
  const whole = Math.floor(kBlocks / UNROLL) * UNROLL;
  const step = [
    '{',
    `vec4 ak = ${blockAt(packedA, 0, 'ax', 'a')};`,
    `vec4 bk = ${blockAt(packedB, 1, 'bx', 'b')};`,
    // (m0 n0, m0 n1, m1 n0, m1 n1) += (a00 b00 + a01 b01, a00 b10 + a01 b11, a10 b00 + a11 b01, a10 b10 + a11 b11)
    'acc += ak.xxzz * bk.xzxz + ak.yyww * bk.ywyw;',
    'ax += 1.0;',
    'bx += 1.0;',
    '}',
  ];
  const body = [
    ...blockOfTexel(packedC),
    'int nb = c;',
    `int batch = r / ${int(mBlocks)};`,
    `int mb = r - batch * ${int(mBlocks)};`,
    ...coordinates('batch', batchShape, 'b'),
    `int aRow = (${matrixOfBatch(shape.aBatch, batchShape)}) * ${int(mBlocks)} + mb;`,
    `int bRow = (${matrixOfBatch(shape.bBatch, batchShape)}) * ${int(nBlocks)} + nb;`,
    ...blockRowStart(packedA, 'aRow', 'a'),
    ...blockRowStart(packedB, 'bRow', 'b'),
    'vec4 acc = vec4(0.0);',
    `for (int k = 0; k < ${int(whole)}; k += ${UNROLL}) {`,
    ...Array.from({ length: UNROLL }, () => step.map((l) => `  ${l}`)).flat(),
    '}',
    ...Array.from({ length: kBlocks - whole }, () => step).flat(),
    'return acc;',
  ];
  return { inputs: [pass(0), pass(1)], size: packedC.width * packedC.height * 4, texels: [packedC.width, packedC.height], helpers: [], body, what: `${what}, 2x2 blocks` };
}

/** The matrix of an operand with batch axes `operandBatch` that result matrix `bc...` (coordinates over `batchShape`) reads: batch axes broadcast. */
function matrixOfBatch(operandBatch: readonly number[], batchShape: readonly number[]): string {
  const terms = strideTerms(broadcastStrides(operandBatch, batchShape), batchShape, 'b');
  return terms.length > 0 ? terms.join(' + ') : '0';
}

/**
 * A product of one row per matrix (decoding's): one fragment per element of the result, walking A's
 * row as it is (one float per texel) against its column's half of B^T's packed blocks, then the
 * finish. One pass a run (B is packed once): packing a row and unpacking the result would cost
 * two more draws than the product itself on such small products.
 */
function rowPass(packedB: PackedMatrix, shape: ProductShape, finish: Finish, what: string): GlPass {
  const { N, K, batchShape } = shape;
  const kBlocks = Math.floor(K / 2);
  const whole = Math.floor(kBlocks / UNROLL) * UNROLL;
  const step = ['{', `vec4 bk = ${blockAt(packedB, 1, 'bx', 'b')};`, 'vec2 w = mix(bk.xy, bk.zw, odd);', `acc += ${sample(0, 'ka')} * w.x + ${sample(0, 'ka + 1')} * w.y;`, 'ka += 2;', 'bx += 1.0;', '}'];
  const body = [
    'int row = i;',
    `int n = ${imod('i', N)};`,
    `int batch = i / ${int(N)};`,
    ...coordinates('batch', batchShape, 'b'),
    `int ka = (${matrixOfBatch(shape.aBatch, batchShape)}) * ${int(K)};`,
    `int bRow = (${matrixOfBatch(shape.bBatch, batchShape)}) * ${int(Math.ceil(N / 2))} + n / 2;`,
    ...blockRowStart(packedB, 'bRow', 'b'),
    // an odd column reads the lower half of its block (z, w)
    `float odd = float(${imod('n', 2)});`,
    'float acc = 0.0;',
    `for (int kb = 0; kb < ${int(whole)}; kb += ${UNROLL}) {`,
    ...Array.from({ length: UNROLL }, () => step.map((l) => `  ${l}`)).flat(),
    '}',
    ...Array.from({ length: kBlocks - whole }, () => step).flat(),
    // an odd K: the last block holds one k (its second is padding)
    ...(K % 2 === 1 ? [`{ vec4 bk = ${blockAt(packedB, 1, 'bx', 'b')}; acc += ${sample(0, 'ka')} * mix(bk.x, bk.z, odd); }`] : []),
    ...finish.lines((k, index) => sample(2 + k, index)),
  ];
  return { inputs: [input(0), pass(0), ...finish.inputs], size: sizeOfShape([...batchShape, 1, N]), helpers: finish.helpers, body, what: `${what}, one row by blocks` };
}

/** One fragment per element of the result: its channel of its block, then the finish (an epilogue, or `return acc;`). */
function unpackPass(from: PassInput, packedC: PackedMatrix, out: readonly number[], finish: Finish, what: string): GlPass {
  const [M, N] = [out[out.length - 2]!, out[out.length - 1]!];
  const block = readBlock(packedC, 0, 'r', 'n / 2', 'c');
  const body = [
    'int row = i;',
    `int n = ${imod('i', N)};`,
    `int rest = i / ${int(N)};`,
    `int m = ${imod('rest', M)};`,
    `int r = (rest / ${int(M)}) * ${int(Math.ceil(M / 2))} + m / 2;`,
    ...block.lines,
    `vec4 block = ${block.value};`,
    `int channel = ${imod('m', 2)} * 2 + ${imod('n', 2)};`,
    'float acc = channel == 0 ? block.x : (channel == 1 ? block.y : (channel == 2 ? block.z : block.w));',
    ...finish.lines((k, index) => sample(1 + k, index)),
  ];
  return { inputs: [from, ...finish.inputs], size: sizeOfShape(out), helpers: finish.helpers, body, what: `${what}, unpacked` };
}

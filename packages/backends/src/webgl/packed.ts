import { WebGlKernelError } from './errors.ts';
import { f32Literal, int } from './glsl.ts';
import { sample, texel, type GlPass, type PassInput } from './kernel.ts';

/**
 * Packed matrices: a matrix held as 2x2 blocks, one block per RGBA texel (x: row 2r col 2c,
 * y: row 2r col 2c + 1, z: row 2r + 1 col 2c, w: row 2r + 1 col 2c + 1; past an odd edge, zeros).
 * A packed matmul reads a quarter of the texels per multiply-add that one float per texel needs,
 * and walks its operands along texel rows by plain coordinates instead of turning linear indices
 * into texel positions (TensorFlow.js's webgl backend packs the same way).
 *
 * Texel layout: block rows of every matrix of a batch, batch-major (block row r of matrix b is
 * b * ceil(rows / 2) + r), each block row one texel row of `blockCols` texels. A tall matrix (a
 * 50257-row embedding read transposed) would pass MAX_TEXTURE_SIZE, so its block rows are folded
 * into strips side by side: block (r, c) is texel (x = (r / height) * blockCols + c, y = r mod
 * height). A result too wide for that (GPT-2's logits: one block row of 25129 blocks) is `wrapped`:
 * block (r, c) is texel t = r * blockCols + c, at (t mod width, t / width); a product only walks
 * its operands' rows, never its result's, so only results may be wrapped.
 */
export interface PackedMatrix {
  /** Block rows of all the batch's matrices: batch * ceil(rows / 2). */
  readonly blockRows: number;
  /** Texels per block row: ceil(cols / 2). */
  readonly blockCols: number;
  /** Texture height (at least 2: gpu.js lays a one-row output out as a square). */
  readonly height: number;
  /** Texture width: strips * blockCols, or the wrapping width. */
  readonly width: number;
  /** Blocks in row-major order wrapped at `width`, rather than block rows in strips. */
  readonly wrapped: boolean;
}

/**
 * The layout of `batch` matrices of rows x cols, or undefined when no texture of `maxTextureSize`
 * holds it. `walked`: a product walks its block rows, so they may not wrap.
 */
export function packedMatrix(batch: number, rows: number, cols: number, maxTextureSize: number, walked: boolean): PackedMatrix | undefined {
  const blockRows = batch * Math.ceil(rows / 2);
  const blockCols = Math.ceil(cols / 2);
  if (blockRows === 0 || blockCols === 0) return undefined;
  const strips = Math.ceil(blockRows / maxTextureSize);
  const height = Math.max(2, Math.ceil(blockRows / strips));
  const width = strips * blockCols;
  if (width <= maxTextureSize && height <= maxTextureSize) return { blockRows, blockCols, height, width, wrapped: false };
  if (walked) return undefined;
  const blocks = blockRows * blockCols;
  const wrapWidth = Math.min(maxTextureSize, Math.ceil(blocks / 2));
  const wrapHeight = Math.max(2, Math.ceil(blocks / wrapWidth));
  return wrapHeight <= maxTextureSize ? { blockRows, blockCols, height: wrapHeight, width: wrapWidth, wrapped: true } : undefined;
}

/** Statements declaring `int r` and `int c`, the block the fragment's texel holds; a texel past the last block returns zeros. */
export function blockOfTexel(layout: PackedMatrix): string[] {
  const lines = layout.wrapped
    ? [`int t = threadId.y * ${int(layout.width)} + threadId.x;`, `int r = t / ${int(layout.blockCols)};`, `int c = t - r * ${int(layout.blockCols)};`]
    : [`int strip = threadId.x / ${int(layout.blockCols)};`, `int r = strip * ${int(layout.height)} + threadId.y;`, `int c = threadId.x - strip * ${int(layout.blockCols)};`];
  return [...lines, `if (r >= ${int(layout.blockRows)}) { return vec4(0.0); }`];
}

/** GLSL reading block (r, c) (int expressions) of input `slot`, laid out as `layout`; statements first, declaring names with `tag`. */
export function readBlock(layout: PackedMatrix, slot: number, r: string, c: string, tag: string): { lines: string[]; value: string } {
  const [x, y] = [`${tag}tx`, `${tag}ty`];
  const lines = layout.wrapped
    ? [`int ${tag}t = (${r}) * ${int(layout.blockCols)} + ${c};`, `int ${y} = ${tag}t / ${int(layout.width)};`, `int ${x} = ${tag}t - ${y} * ${int(layout.width)};`]
    : [`int ${tag}strip = (${r}) / ${int(layout.height)};`, `int ${x} = ${tag}strip * ${int(layout.blockCols)} + ${c};`, `int ${y} = (${r}) - ${tag}strip * ${int(layout.height)};`];
  return { lines, value: texel(slot, `vec2((float(${x}) + 0.5) * ${f32Literal(1 / layout.width)}, (float(${y}) + 0.5) * ${f32Literal(1 / layout.height)})`) };
}

/** The index of block (r, c)'s first float in the texture's RGBA floats (what readPixels gives). */
function blockOffset(layout: PackedMatrix, r: number, c: number): number {
  if (layout.wrapped) return (r * layout.blockCols + c) * 4;
  const strip = Math.floor(r / layout.height);
  return ((r - strip * layout.height) * layout.width + strip * layout.blockCols + c) * 4;
}

/** Statements declaring floats `<tag>x` (the texel column of block column 0, plus one half) and `<tag>y` (the texel row's centre, normalized) of block row `row`. */
export function blockRowStart(layout: PackedMatrix, row: string, tag: string): string[] {
  if (layout.wrapped) throw new WebGlKernelError('a wrapped packed matrix has no block rows to walk (lay walked operands out with packedMatrix(..., walked: true))');
  return [
    `int ${tag}strip = ${row} / ${int(layout.height)};`,
    `float ${tag}x = float(${tag}strip * ${int(layout.blockCols)}) + 0.5;`,
    `float ${tag}y = (float(${row} - ${tag}strip * ${int(layout.height)}) + 0.5) / ${int(layout.height)}.0;`,
  ];
}

/** GLSL reading the block at texel column `x` (a float, a texel centre) of the row `blockRowStart` gave `tag`, input `slot`. */
export function blockAt(layout: PackedMatrix, slot: number, x: string, tag: string): string {
  // times the reciprocal: a division per read costs llvmpipe more than the rounding matters (texel centres stay within 1e-3 texel)
  return texel(slot, `vec2((${x}) * ${f32Literal(1 / layout.width)}, ${tag}y)`);
}

/** Elements `index` and `index + 1` of a one-float-per-texel texture of `size` texels (the second on the next texel row when the first ends one). */
const PAIR = `vec2 loom_pair(sampler2D t, ivec2 size, int index) {
  int y = index / size.x;
  int x = index - y * size.x;
  vec2 texel = 1.0 / vec2(size);
  vec2 uv = (vec2(float(x), float(y)) + 0.5) * texel;
  vec2 next = x + 1 < size.x ? vec2(uv.x + texel.x, uv.y) : vec2(0.5 * texel.x, uv.y + texel.y);
  return vec2(loom_texel(t, uv).r, loom_texel(t, next).r);
}`;

/**
 * The pass packing a matrix input: `shape` [...batch, rows, cols] read as it is, or `transposed`
 * (the packed matrix is each [rows, cols] matrix's transpose). `keep`: the device draws it once
 * when the input is a weight (a matmul's B is packed at the first run, not at every run).
 */
export function packPass(from: PassInput, shape: readonly number[], transposed: boolean, layout: PackedMatrix, what: string): GlPass {
  const [r, c] = [shape[shape.length - 2]!, shape[shape.length - 1]!];
  const [rows, cols] = transposed ? [c, r] : [r, c];
  const blocksPerMatrix = Math.ceil(rows / 2);
  const element = (row: string, col: string, checks: string[]) => {
    // transposed: the input is [cols, rows] per matrix, element (row, col) of the packed matrix is its (col, row)
    const index = transposed ? `base + (${col}) * ${int(rows)} + ${row}` : `base + (${row}) * ${int(cols)} + ${col}`;
    const read = sample(0, index);
    return checks.length === 0 ? read : `(${checks.join(' && ')} ? ${read} : 0.0)`;
  };
  const rowCheck = rows % 2 === 1 ? [`row + 1 < ${int(rows)}`] : [];
  const colCheck = cols % 2 === 1 ? [`col + 1 < ${int(cols)}`] : [];
  const start = [
    ...blockOfTexel(layout),
    `int b = r / ${int(blocksPerMatrix)};`,
    `int row = (r - b * ${int(blocksPerMatrix)}) * 2;`,
    'int col = c * 2;',
    `int base = b * ${int(rows * cols)};`,
  ];
  if (transposed) {
    // a weight's B^T, drawn once: element by element
    const body = [...start, `return vec4(${element('row', 'col', [])}, ${element('row', 'col + 1', colCheck)}, ${element('row + 1', 'col', rowCheck)}, ${element('row + 1', 'col + 1', [...rowCheck, ...colCheck])});`];
    return { inputs: [from], size: layout.width * layout.height * 4, texels: [layout.width, layout.height], helpers: [], body, what: `${what}, packed transposed`, keep: true };
  }
  // each block row's two elements are neighbours in the input: one pair read each (PAIR), not four index lookups
  const pair = (row: string) => `loom_pair(t0, t0Size, base + (${row}) * ${int(cols)} + col)`;
  const body = [
    ...start,
    `vec2 top = ${pair('row')};`,
    `vec2 bottom = ${rowCheck.length > 0 ? `${rowCheck[0]} ? ${pair('row + 1')} : vec2(0.0)` : pair('row + 1')};`,
    // an odd last column: the pair's second element is the next row's first
    ...(colCheck.length > 0 ? [`if (!(${colCheck[0]})) { top.y = 0.0; bottom.y = 0.0; }`] : []),
    'return vec4(top, bottom);',
  ];
  return { inputs: [from], size: layout.width * layout.height * 4, texels: [layout.width, layout.height], helpers: [PAIR], body, what: `${what}, packed`, keep: true, packsInput: { shape, layout } };
}

/** A packed result of `shape` ([...batch, rows, cols]) a device may read back as it is, unpacking it here. */
export interface PackedRead {
  readonly layout: PackedMatrix;
  readonly shape: readonly number[];
}

/** The floats of a packed result, row-major, from its texture's RGBA texels (width x height x 4, as readPixels gives them). */
export function unpackTexels(rgba: Float32Array, { layout, shape }: PackedRead): Float32Array {
  const [rows, cols] = [shape[shape.length - 2]!, shape[shape.length - 1]!];
  const out = new Float32Array((layout.blockRows / Math.ceil(rows / 2)) * rows * cols);
  forEachMatrixRow(layout, rows, cols, (element, texel) => {
    for (let col = 0; col < cols; col++) out[element + col] = rgba[texel + (col >> 1) * 4 + (col & 1)]!;
  });
  return out;
}

/**
 * A matrix input packed on the host: the RGBA texels (width x height x 4 floats) that `packPass`
 * would draw from `data` ([...batch, rows, cols], row-major), zeros past odd edges. A fed matrix is
 * uploaded this way instead of uploaded and then packed by a pass: one upload of the same bytes,
 * and a draw less.
 */
export function packTexels(data: ArrayLike<number>, shape: readonly number[], layout: PackedMatrix): Float32Array {
  const [rows, cols] = [shape[shape.length - 2]!, shape[shape.length - 1]!];
  const rgba = new Float32Array(layout.width * layout.height * 4);
  forEachMatrixRow(layout, rows, cols, (element, texel) => {
    for (let col = 0; col < cols; col++) rgba[texel + (col >> 1) * 4 + (col & 1)] = data[element + col]!;
  });
  return rgba;
}

/**
 * Each row of every matrix of a packed layout (`rows` x `cols` matrices): the index of its first
 * element in the row-major floats, and of its first float in the RGBA texels (channel x or z of its
 * block row's first texel; column c is then at + (c >> 1) * 4 + (c & 1)).
 */
function forEachMatrixRow(layout: PackedMatrix, rows: number, cols: number, visit: (element: number, texel: number) => void): void {
  const blocksPerMatrix = Math.ceil(rows / 2);
  for (let r = 0; r < layout.blockRows; r++) {
    const matrix = Math.floor(r / blocksPerMatrix);
    const top = (r - matrix * blocksPerMatrix) * 2;
    // a block row's texels are consecutive in either layout
    const rowStart = blockOffset(layout, r, 0);
    for (let dr = 0; dr < 2 && top + dr < rows; dr++) visit((matrix * rows + top + dr) * cols, rowStart + dr * 2);
  }
}

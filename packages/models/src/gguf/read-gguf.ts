/**
 * llama.cpp's GGUF files: the header and metadata parsed by the maintained @huggingface/gguf package
 * (local files, with its limits on counts, string lengths and nesting), then checked here as strictly
 * as Loom checks safetensors: every tensor's type is one Loom reads, its dimensions are positive and its
 * element count fits, its row length is whole blocks, its data lies inside the file, aligned, and no
 * two tensors share a name or a byte. Problems are GgufErrors naming the file, the tensor and the
 * byte offsets; nothing is allocated for a tensor before its range is checked against the file.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { gguf } from '@huggingface/gguf';
import { LoomError, type NDArray } from '@loom/graph';
import { dequantize } from './dequantize.ts';
import { GGUF_TYPES, isGgufType, OTHER_GGML_TYPES, type GgufTypeId, type GgufTypeName } from './gguf-types.ts';

export class GgufError extends LoomError {
  constructor(message: string) {
    super('gguf', message);
  }
}

/** One tensor of a GGUF file: its shape in row-major order (numpy's: GGML lists dimensions innermost first), its type and bytes. */
export interface GgufTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly type: GgufTypeName;
  readonly typeId: GgufTypeId;
  /** Absolute byte offset in the file, and length. */
  readonly offset: number;
  readonly byteLength: number;
}

export interface GgufFile {
  readonly path: string;
  readonly version: number;
  /** The metadata key/value pairs (numbers as numbers, 64-bit integers as bigint where they do not fit). */
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly tensors: ReadonlyMap<string, GgufTensor>;
  readonly alignment: number;
}

/** The most elements Loom reads into one float32 array (2^31 - 1, as safetensors). */
const MAX_ELEMENTS = 2 ** 31 - 1;

/** Reads and checks a GGUF file's header (no tensor data). */
export async function readGgufHeader(path: string): Promise<GgufFile> {
  let parsed: Awaited<ReturnType<typeof gguf>>;
  try {
    parsed = await gguf(path, { allowLocalFile: true });
  } catch (e) {
    throw new GgufError(`${path}: not a GGUF file Loom reads: ${(e as Error).message}`);
  }
  const fileSize = fileSizeOf(path);
  const metadata = parsed.metadata as Record<string, unknown>;
  const rawAlignment = metadata['general.alignment'] ?? 32;
  const alignment = Number(rawAlignment);
  if (!Number.isSafeInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) throw new GgufError(`${path}: general.alignment ${String(rawAlignment)} is not a power of two`);
  const dataStart = Number(parsed.tensorDataOffset);
  if (!(dataStart >= 0 && dataStart <= fileSize)) throw new GgufError(`${path}: the tensor data would start at byte ${dataStart}, past the file's ${fileSize} bytes`);
  const tensors = new Map<string, GgufTensor>();
  for (const info of parsed.tensorInfos) {
    const where = `${path}: tensor '${info.name}'`;
    if (tensors.has(info.name)) throw new GgufError(`${where}: named twice`);
    const type = Number(info.dtype);
    if (!isGgufType(type)) throw new GgufError(`${where}: type ${OTHER_GGML_TYPES[type] ?? `#${type}`} is not one Loom reads (${Object.values(GGUF_TYPES).map((t) => t.name).join(', ')})`);
    const ne = info.shape.map(Number);
    if (ne.length === 0 || ne.some((d) => !Number.isSafeInteger(d) || d <= 0)) throw new GgufError(`${where}: dimensions [${info.shape.join(', ')}] must be positive integers`);
    const elements = ne.reduce((a, b) => a * b, 1);
    if (elements > MAX_ELEMENTS) throw new GgufError(`${where}: ${elements} elements, more than the ${MAX_ELEMENTS} one array holds`);
    const { block, bytes } = GGUF_TYPES[type];
    if (ne[0]! % block !== 0) throw new GgufError(`${where}: rows of ${ne[0]} values are not whole ${GGUF_TYPES[type].name} blocks of ${block}`);
    const byteLength = (elements / block) * bytes;
    const relative = Number(info.offset);
    const offset = dataStart + relative;
    if (relative % alignment !== 0) throw new GgufError(`${where}: its data offset ${relative} is not a multiple of the alignment ${alignment}`);
    if (!(Number.isSafeInteger(offset) && offset + byteLength <= fileSize)) throw new GgufError(`${where}: bytes ${offset}..${offset + byteLength} lie past the end of the file (${fileSize} bytes)`);
    tensors.set(info.name, { name: info.name, shape: [...ne].reverse(), type: GGUF_TYPES[type].name, typeId: type, offset, byteLength });
  }
  checkNoOverlap(path, [...tensors.values()]);
  return { path, version: Number(metadata['version']), metadata, tensors, alignment };
}

function checkNoOverlap(path: string, tensors: readonly GgufTensor[]): void {
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1]!, sorted[i]!];
    if (b.offset < a.offset + a.byteLength) throw new GgufError(`${path}: tensors '${a.name}' (bytes ${a.offset}..${a.offset + a.byteLength}) and '${b.name}' (from ${b.offset}) overlap`);
  }
}

function fileSizeOf(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

/** A tensor's values as float32 (quantized blocks dequantized), shaped as numpy shapes it. */
export function readGgufTensor(file: GgufFile, name: string): NDArray {
  const { tensor, bytes } = readGgufBytes(file, name);
  const count = tensor.shape.reduce((a, b) => a * b, 1);
  return { dtype: 'f32', shape: [...tensor.shape], data: dequantize(tensor.typeId, bytes, count) };
}

/** A tensor's bytes as the file stores them (its range was checked with the header). */
export function readGgufBytes(file: GgufFile, name: string): { tensor: GgufTensor; bytes: Uint8Array } {
  const tensor = file.tensors.get(name);
  if (!tensor) throw new GgufError(`${file.path}: no tensor '${name}'`);
  const bytes = new Uint8Array(tensor.byteLength);
  const fd = openSync(file.path, 'r');
  try {
    let read = 0;
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, tensor.offset + read);
      if (n === 0) throw new GgufError(`${file.path}: tensor '${name}' ends at byte ${tensor.offset + read}, short of its ${tensor.byteLength} bytes (the file changed?)`);
      read += n;
    }
  } finally {
    closeSync(fd);
  }
  return { tensor, bytes };
}

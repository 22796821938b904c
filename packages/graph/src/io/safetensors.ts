/**
 * Reading and writing safetensors files (the Hugging Face checkpoint format) from and to bytes. No
 * Node APIs here, so it runs in a browser; `safetensors-file.ts` adds the file-system helpers.
 *
 * Reading converts each tensor to an NDArray with its own buffer (never a view of the input, so the
 * result stays valid and aligned whatever happens to the bytes):
 *   F32  -> f32, Float32Array         F16, BF16 -> f32, Float32Array (exact widening)
 *   F64  -> f32, Float64Array (NDArray's f32 dtype may be stored in float64; no precision is lost)
 *   I32  -> i32, Int32Array           I64 -> i32, Int32Array (a value outside i32 range is an error)
 * Writing emits F32 (float32 or float64 storage, rounded to float32) and I32.
 */
import type { NDArray } from '../ndarray.ts';
import { decodeBF16, decodeF16 } from './half.ts';
import {
  encodeSafetensorsHeader,
  parseSafetensorsHeader,
  SafetensorsError,
  SAFETENSORS_ITEM_SIZE,
  type SafetensorsDType,
  type TensorEntry,
} from './safetensors-header.ts';

export { SafetensorsError, MAX_HEADER_BYTES, READABLE_DTYPES, type ReadableDType, type SafetensorsDType } from './safetensors-header.ts';

/** The contents of a safetensors file: tensors in file (header) order, and the `__metadata__` strings. */
export interface SafetensorsFile {
  tensors: Map<string, NDArray>;
  metadata: Record<string, string>;
}

export interface ReadSafetensorsOptions {
  /** Names the file in error messages (a path or URL); default "safetensors". */
  source?: string;
}

/** Typed arrays are host-endian; safetensors is little-endian. */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Parses a safetensors file. Everything in the header is checked against the file before anything
 * is allocated from it; any problem throws a SafetensorsError naming the tensor or byte offset.
 */
export function readSafetensors(bytes: Uint8Array, options: ReadSafetensorsOptions = {}): SafetensorsFile {
  const source = options.source ?? 'safetensors';
  const { entries, metadata, dataStart } = parseSafetensorsHeader(bytes, source);
  const tensors = new Map<string, NDArray>();
  for (const entry of entries) {
    tensors.set(entry.name, decodeTensor(bytes, dataStart, entry, source));
  }
  return { tensors, metadata };
}

function decodeTensor(bytes: Uint8Array, dataStart: number, entry: TensorEntry, source: string): NDArray {
  // A copy into a fresh buffer at offset 0: aligned for any typed array, whatever the file's layout.
  // (Not bytes.slice(): on a Node Buffer that returns a view.)
  const raw = new Uint8Array(entry.end - entry.begin);
  raw.set(bytes.subarray(dataStart + entry.begin, dataStart + entry.end));
  return decodeTensorBytes(raw, dataStart, entry, source);
}

/**
 * A tensor from its own bytes (`raw`: exactly the entry's byte range, in a buffer of its own, at
 * offset 0), e.g. read from the file at the entry's offset. `raw` may be reused as the result's storage.
 */
export function decodeTensorBytes(raw: Uint8Array, dataStart: number, entry: TensorEntry, source: string): NDArray {
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes(raw, SAFETENSORS_ITEM_SIZE[entry.dtype]);
  const shape = entry.shape;
  switch (entry.dtype) {
    case 'F32':
      return { dtype: 'f32', shape, data: new Float32Array(raw.buffer) };
    case 'F64':
      return { dtype: 'f32', shape, data: new Float64Array(raw.buffer) };
    case 'F16':
      return { dtype: 'f32', shape, data: decodeF16(new Uint16Array(raw.buffer)) };
    case 'BF16':
      return { dtype: 'f32', shape, data: decodeBF16(new Uint16Array(raw.buffer)) };
    case 'I32':
      return { dtype: 'i32', shape, data: new Int32Array(raw.buffer) };
    case 'I64':
      return { dtype: 'i32', shape, data: narrowI64(new BigInt64Array(raw.buffer), entry, dataStart, source) };
  }
}

const I32_MIN = -(2n ** 31n);
const I32_MAX = 2n ** 31n - 1n;

function narrowI64(values: BigInt64Array, entry: TensorEntry, dataStart: number, source: string): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < I32_MIN || v > I32_MAX) {
      throw new SafetensorsError(
        `${source}: tensor "${entry.name}": I64 element ${i} is ${v}, outside the int32 range Loom stores integers in`,
        entry.name,
        dataStart + entry.begin + 8 * i,
      );
    }
    out[i] = Number(v);
  }
  return out;
}

/** Reverses the bytes of each `itemSize`-byte element in place (little- to big-endian and back). */
function swapBytes(bytes: Uint8Array, itemSize: number): void {
  if (itemSize === 1) return;
  for (let i = 0; i < bytes.length; i += itemSize) bytes.subarray(i, i + itemSize).reverse();
}

/**
 * A safetensors file laid out but not yet written: its first bytes (the 8-byte header length and the
 * header), then each tensor's bytes in file order, made on demand one tensor at a time. A server can
 * send a checkpoint larger than any one array this way (`writeSafetensors` copies it into one).
 */
export interface SafetensorsLayout {
  /** The whole file's size in bytes. */
  readonly size: number;
  /** The 8-byte little-endian header length, then the header JSON padded with spaces to 8 bytes. */
  readonly header: Uint8Array;
  /** The data section, tensor by tensor in file order. */
  readonly tensors: readonly SafetensorsPart[];
}

export interface SafetensorsPart {
  readonly name: string;
  readonly byteLength: number;
  /** The tensor's little-endian bytes: a view of its storage where it can be, else a copy of this one tensor. */
  bytes(): Uint8Array;
}

/**
 * Lays tensors out as a safetensors file: f32 arrays as F32 (float64 storage is rounded to float32),
 * i32 as I32, tensors sorted by name and packed in that order, the header padded with spaces so the
 * data section is 8-byte aligned. `metadata` becomes `__metadata__`. Every tensor is checked here,
 * before any byte is made, so writing the parts in turn cannot fail half-way.
 */
export function layoutSafetensors(
  tensors: ReadonlyMap<string, NDArray> | Readonly<Record<string, NDArray>>,
  metadata?: Readonly<Record<string, string>>,
): SafetensorsLayout {
  const named = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, NDArray>);
  named.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  const entries: { name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number; part: SafetensorsPart }[] = [];
  let offset = 0;
  for (const [name, array] of named) {
    const { dtype, part } = tensorPart(name, array);
    entries.push({ name, dtype, shape: [...array.shape], begin: offset, end: offset + part.byteLength, part });
    offset += part.byteLength;
  }
  if (metadata) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw new SafetensorsError(`writeSafetensors: metadata "${key}" must be a string, got ${typeof value}`);
    }
  }

  const json = encodeSafetensorsHeader(entries, metadata as Record<string, string> | undefined);
  const header = new Uint8Array(8 + json.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(json.length), true);
  header.set(json, 8);
  return { size: header.length + offset, header, tensors: entries.map((e) => e.part) };
}

/** Serialises tensors as a safetensors file in one array (the layout of `layoutSafetensors`). */
export function writeSafetensors(
  tensors: ReadonlyMap<string, NDArray> | Readonly<Record<string, NDArray>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const layout = layoutSafetensors(tensors, metadata);
  const out = new Uint8Array(layout.size);
  out.set(layout.header);
  let offset = layout.header.length;
  for (const part of layout.tensors) {
    out.set(part.bytes(), offset);
    offset += part.byteLength;
  }
  return out;
}

/** Checks one tensor and returns how to make its bytes (a view of the caller's storage where it can). */
function tensorPart(name: string, array: NDArray): { dtype: SafetensorsDType; part: SafetensorsPart } {
  const where = `writeSafetensors: tensor "${name}"`;
  if (name === '__metadata__') throw new SafetensorsError(`${where}: the name is reserved for the metadata`, name);
  let count = 1;
  for (const d of array.shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new SafetensorsError(`${where}: shape [${array.shape.join(', ')}] is not a list of sizes`, name);
    count *= d;
  }
  if (array.data.length !== count) {
    throw new SafetensorsError(`${where}: ${array.data.length} values for shape [${array.shape.join(', ')}] (needs ${count})`, name);
  }
  if (array.dtype !== 'f32' && array.dtype !== 'i32') throw new SafetensorsError(`${where}: dtype ${String(array.dtype)} cannot be written`, name);
  if (array.dtype === 'i32' && !(array.data instanceof Int32Array)) {
    for (let i = 0; i < count; i++) {
      const v = array.data[i]!;
      if ((v | 0) !== v) throw new SafetensorsError(`${where}: i32 element ${i} is ${v}, not an int32`, name);
    }
  }

  const typed = (): Float32Array | Int32Array => {
    if (array.dtype === 'f32') return array.data instanceof Float32Array ? array.data : Float32Array.from(array.data);
    return array.data instanceof Int32Array ? array.data : Int32Array.from(array.data);
  };
  const bytes = (): Uint8Array => {
    const t = typed();
    const view = new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
    if (HOST_IS_LITTLE_ENDIAN) return view;
    const copy = view.slice();
    swapBytes(copy, 4);
    return copy;
  };
  return { dtype: array.dtype === 'f32' ? 'F32' : 'I32', part: { name, byteLength: 4 * count, bytes } };
}

/**
 * The safetensors container: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the
 * raw little-endian tensor data. This file parses and checks the header; `safetensors.ts` decodes the
 * data. Every check here runs before any buffer is allocated from a header value, so a corrupt or
 * hostile file costs at most its own size in memory.
 *
 * Header JSON: `{ "__metadata__"?: { [key]: string }, [tensor]: { dtype, shape, data_offsets: [begin, end] } }`
 * with offsets relative to the start of the data section (byte 8 + N of the file).
 */
import { LoomError } from '../errors.ts';

/**
 * A safetensors file is malformed or holds something Loom cannot represent. The message names the
 * source, and the tensor or byte offset where the problem is; `tensor` and `offset` carry the same.
 */
export class SafetensorsError extends LoomError {
  constructor(
    message: string,
    readonly tensor?: string,
    readonly offset?: number,
  ) {
    super('safetensors', message);
  }
}

/** Bytes per element of every dtype the safetensors format defines (read or not). */
export const SAFETENSORS_ITEM_SIZE = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
} as const;
export type SafetensorsDType = keyof typeof SAFETENSORS_ITEM_SIZE;

/** The dtypes `readSafetensors` converts to an NDArray. */
export const READABLE_DTYPES = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32'] as const;
export type ReadableDType = (typeof READABLE_DTYPES)[number];

/** Same bound as the reference (Rust) implementation: a larger header is refused before it is decoded. */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor's header entry, checked against the file: `begin`/`end` are offsets into the data section. */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: ReadableDType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

export interface ParsedHeader {
  readonly entries: readonly TensorEntry[];
  readonly metadata: Record<string, string>;
  /** Offset of the data section in the file: 8 + header length. */
  readonly dataStart: number;
}

const METADATA_KEY = '__metadata__';

/**
 * Parses and validates a safetensors header against the whole file: structure, dtypes, shapes, byte
 * lengths, offsets inside the data section, no two tensors overlapping. `source` prefixes every message.
 * `bytes` is the file, or only its start (at least the 8-byte length and the header) when
 * `fileSize` gives the whole file's size: a reader that fetches each tensor by offset later.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, source: string, fileSize = bytes.length): ParsedHeader {
  const fail = (message: string, tensor?: string, offset?: number): never => {
    throw new SafetensorsError(`${source}: ${message}`, tensor, offset);
  };

  if (fileSize < 8 || bytes.length < 8) {
    fail(`file is ${fileSize} bytes, shorter than the 8-byte header length that starts every safetensors file`, undefined, 0);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${headerLength} (at offset 0) exceeds the ${MAX_HEADER_BYTES}-byte limit`, undefined, 0);
  }
  const n = Number(headerLength);
  if (8 + n > fileSize || 8 + n > bytes.length) {
    fail(`truncated: header length ${n} (at offset 0) needs ${8 + n} bytes, but the file has ${fileSize}`, undefined, 0);
  }

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail(`header (bytes 8 to ${8 + n}) is not valid UTF-8`, undefined, 8);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(`header (bytes 8 to ${8 + n}) is not valid JSON: ${(e as Error).message}`, undefined, 8);
  }
  if (!isPlainObject(json)) fail(`header must be a JSON object, got ${describe(json)}`, undefined, 8);
  // as the reference implementation: the header starts with '{' (only padding spaces may follow the object)
  if (text[0] !== '{') fail(`header (bytes 8 to ${8 + n}) must start with '{', found ${JSON.stringify(text[0])}`, undefined, 8);
  // JSON.parse keeps the last of two equal keys; a checkpoint naming a tensor twice is ambiguous
  const duplicate = firstDuplicateKey(text);
  if (duplicate) fail(`tensor "${duplicate.key}" is named twice in the header (the second at byte ${8 + duplicate.at})`, duplicate.key, 8 + duplicate.at);
  const header = json as Record<string, unknown>;

  let metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  // Object.entries, not `for in`: the header may name a tensor "__proto__" or "constructor".
  for (const [name, raw] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = parseMetadata(raw, fail);
    else entries.push(parseEntry(name, raw, fail));
  }

  const dataStart = 8 + n;
  const dataLength = fileSize - dataStart;
  let needed = 0;
  let neededBy = '';
  for (const e of entries) {
    if (e.end > needed) {
      needed = e.end;
      neededBy = e.name;
    }
  }
  if (needed > dataLength) {
    fail(
      `truncated: tensor "${neededBy}" ends at byte ${needed} of the data section, so the file needs ` +
        `${dataStart + needed} bytes, but it has ${fileSize} (data section ${dataLength} bytes)`,
      neededBy,
      dataStart + dataLength,
    );
  }

  // The tensors must cover the data section exactly, as the reference implementation requires: in
  // offset order each begins where the previous ended (no gap, no overlap), and the last ends at the
  // end of the file (no trailing bytes). A header length one byte off shows up here.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: TensorEntry | undefined;
  for (const cur of byOffset) {
    if (cur.begin < covered) {
      fail(
        `tensors "${previous!.name}" [${previous!.begin}, ${previous!.end}) and "${cur.name}" [${cur.begin}, ${cur.end}) overlap in the data section`,
        cur.name,
        dataStart + cur.begin,
      );
    }
    if (cur.begin > covered) {
      fail(`gap in the data section: bytes [${covered}, ${cur.begin}) before tensor "${cur.name}" belong to no tensor (file offsets ${dataStart + covered} to ${dataStart + cur.begin})`, cur.name, dataStart + covered);
    }
    covered = cur.end;
    previous = cur;
  }
  if (covered < dataLength) {
    fail(
      `${dataLength - covered} trailing bytes after the last tensor (file offsets ${dataStart + covered} to ${fileSize}); ` +
        `the tensors cover ${covered} of the ${dataLength}-byte data section, so the header length at offset 0 may be wrong`,
      previous?.name,
      dataStart + covered,
    );
  }
  return { entries, metadata, dataStart };
}

type Fail = (message: string, tensor?: string, offset?: number) => never;

/**
 * The first key of the top-level JSON object that occurs twice, with its offset in `text` (which is
 * valid JSON: JSON.parse succeeded). Walks the text once, tracking depth and strings.
 */
function firstDuplicateKey(text: string): { key: string; at: number } | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (seen.has(key)) return { key, at: start };
        seen.add(key);
        expectKey = false;
      }
    } else if (ch === '{' || ch === '[') {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (ch === '}' || ch === ']') depth--;
    else if (ch === ',' && depth === 1) expectKey = true;
  }
  return undefined;
}

function parseMetadata(raw: unknown, fail: Fail): Record<string, string> {
  if (!isPlainObject(raw)) return fail(`"${METADATA_KEY}" must be an object of strings, got ${describe(raw)}`);
  const pairs = Object.entries(raw);
  for (const [key, value] of pairs) {
    if (typeof value !== 'string') fail(`"${METADATA_KEY}"."${key}" must be a string, got ${describe(value)}`);
  }
  // fromEntries defines own properties, so a key "__proto__" stays data, not a prototype.
  return Object.fromEntries(pairs) as Record<string, string>;
}

function parseEntry(name: string, raw: unknown, fail: Fail): TensorEntry {
  const where = `tensor "${name}"`;
  if (!isPlainObject(raw)) return fail(`${where}: entry must be an object, got ${describe(raw)}`, name);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;

  if (typeof dtype !== 'string') return fail(`${where}: "dtype" must be a string, got ${describe(dtype)}`, name);
  if (!(READABLE_DTYPES as readonly string[]).includes(dtype)) {
    const known = Object.hasOwn(SAFETENSORS_ITEM_SIZE, dtype) ? 'is not supported' : 'is not a safetensors dtype';
    return fail(`${where}: dtype ${JSON.stringify(dtype)} ${known} (Loom reads ${READABLE_DTYPES.join(', ')})`, name);
  }

  if (!Array.isArray(shape)) return fail(`${where}: "shape" must be an array, got ${describe(shape)}`, name);
  let count = 1;
  for (const [i, d] of shape.entries()) {
    if (!isSize(d)) return fail(`${where}: shape[${i}] must be a non-negative integer, got ${describe(d)}`, name);
    count *= d;
  }
  // Multiplying by a zero dim later can bring an overflowed product back to 0, so test the dims too.
  if (!Number.isSafeInteger(count) && !shape.includes(0)) {
    return fail(`${where}: shape [${shape.join(', ')}] has more elements than can be addressed`, name);
  }

  if (!Array.isArray(offsets) || offsets.length !== 2) {
    return fail(`${where}: "data_offsets" must be [begin, end], got ${describe(offsets)}`, name);
  }
  const [begin, end] = offsets as unknown[];
  if (!isSize(begin) || !isSize(end)) {
    return fail(`${where}: "data_offsets" must be non-negative integers, got ${JSON.stringify(offsets)}`, name);
  }
  if (begin > end) return fail(`${where}: data_offsets [${begin}, ${end}] begin after they end`, name);

  const itemSize = SAFETENSORS_ITEM_SIZE[dtype as ReadableDType];
  const expected = shape.includes(0) ? 0 : count * itemSize;
  if (end - begin !== expected) {
    return fail(
      `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes, but ${dtype} shape [${shape.join(', ')}] needs ${expected}`,
      name,
    );
  }
  return { name, dtype: dtype as ReadableDType, shape: [...(shape as number[])], begin, end };
}

function isSize(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  return `${typeof v} ${String(v)}`;
}

/**
 * Serialises a header in the given key order (JSON.stringify of an object would move integer-like
 * names such as "0" to the front), padded with spaces so the data section starts 8-byte aligned.
 */
export function encodeSafetensorsHeader(
  entries: readonly { name: string; dtype: SafetensorsDType; shape: readonly number[]; begin: number; end: number }[],
  metadata: Record<string, string> | undefined,
): Uint8Array {
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  for (const e of entries) {
    parts.push(`${JSON.stringify(e.name)}:${JSON.stringify({ dtype: e.dtype, shape: e.shape, data_offsets: [e.begin, e.end] })}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(padded).fill(0x20);
  out.set(json);
  return out;
}

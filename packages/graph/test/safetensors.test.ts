import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LoomError, MAX_HEADER_BYTES, ndarray, readSafetensors, SafetensorsError, writeSafetensors, type NDArray } from '../src/index.ts';
import { readSafetensorsFile, writeSafetensorsFile } from '../src/node.ts';
import { halfToFloat } from '../src/io/half.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** Builds a file from a header (object or literal text) and a data section, independently of the writer. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Asserts that reading throws a SafetensorsError whose message matches every pattern. */
function expectReadError(bytes: Uint8Array, ...patterns: RegExp[]): SafetensorsError {
  let caught: unknown;
  try {
    readSafetensors(bytes, { source: 'bad.safetensors' });
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(SafetensorsError);
  const err = caught as SafetensorsError;
  expect(err).toBeInstanceOf(LoomError);
  expect(err.code).toBe('safetensors');
  expect(err.message).toMatch(/^bad\.safetensors: /);
  for (const p of patterns) expect(err.message).toMatch(p);
  return err;
}

const f32Entry = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

describe('readSafetensors: dtypes', () => {
  it('reads F32, F64 (kept in float64), I32 and metadata', () => {
    const f32 = new Float32Array([1.5, -2, 3.25, 0]);
    const f64 = new Float64Array([Math.PI, 1e-300]);
    const i32 = new Int32Array([-7, 2 ** 31 - 1]);
    const data = new Uint8Array(16 + 16 + 8);
    data.set(bytesOf(f32), 0);
    data.set(bytesOf(f64), 16);
    data.set(bytesOf(i32), 32);
    const file = readSafetensors(
      rawFile({
        __metadata__: { format: 'pt' },
        a: f32Entry([2, 2], 0, 16),
        b: { dtype: 'F64', shape: [2], data_offsets: [16, 32] },
        c: { dtype: 'I32', shape: [2], data_offsets: [32, 40] },
      }, data),
    );
    expect(file.metadata).toEqual({ format: 'pt' });
    expect([...file.tensors.keys()]).toEqual(['a', 'b', 'c']);
    const a = file.tensors.get('a')!;
    expect(a).toMatchObject({ dtype: 'f32', shape: [2, 2] });
    expect(a.data).toBeInstanceOf(Float32Array);
    expect([...a.data]).toEqual([1.5, -2, 3.25, 0]);
    const b = file.tensors.get('b')!;
    expect(b.dtype).toBe('f32');
    expect(b.data).toBeInstanceOf(Float64Array);
    expect([...b.data]).toEqual([Math.PI, 1e-300]);
    const c = file.tensors.get('c')!;
    expect(c.dtype).toBe('i32');
    expect(c.data).toBeInstanceOf(Int32Array);
    expect([...c.data]).toEqual([-7, 2 ** 31 - 1]);
  });

  it('widens F16 exactly, including subnormals, infinities and NaN', () => {
    const bits = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x3555]);
    const file = readSafetensors(rawFile({ h: { dtype: 'F16', shape: [9], data_offsets: [0, 18] } }, bytesOf(bits)));
    const h = file.tensors.get('h')!;
    expect(h.data).toBeInstanceOf(Float32Array);
    expect([...h.data]).toEqual([1, -2, 65504, 2 ** -24, -0, Infinity, -Infinity, NaN, Math.fround(0.333251953125)]);
    expect(Object.is(h.data[4], -0)).toBe(true);
  });

  it('agrees with a bit-level F16 decoding on every one of the 65536 patterns', () => {
    const probe = new DataView(new ArrayBuffer(4));
    const wrong: number[] = [];
    for (let b = 0; b < 0x10000; b++) {
      const sign = b >> 15, exp = (b >> 10) & 0x1f, frac = b & 0x3ff;
      let want: number;
      if (exp === 0x1f) want = frac === 0 ? (sign ? -Infinity : Infinity) : NaN;
      else if (exp === 0) want = (sign ? -1 : 1) * frac * 2 ** -24;
      else {
        // A normal half is a float32 with the exponent rebiased (15 -> 127) and the fraction shifted by 13.
        probe.setUint32(0, (sign << 31) | ((exp - 15 + 127) << 23) | (frac << 13));
        want = probe.getFloat32(0);
      }
      if (!Object.is(halfToFloat(b), want)) wrong.push(b);
    }
    expect(wrong).toEqual([]);
  });

  it('widens BF16 as the top half of a float32', () => {
    const bits = new Uint16Array([0x3f80, 0xc040, 0x7f80, 0x0001]);
    const file = readSafetensors(rawFile({ b: { dtype: 'BF16', shape: [4], data_offsets: [0, 8] } }, bytesOf(bits)));
    const b = file.tensors.get('b')!;
    expect(b.data).toBeInstanceOf(Float32Array);
    expect([...b.data]).toEqual([1, -3, Infinity, new Float32Array(new Uint32Array([0x00010000]).buffer)[0]]);
  });

  it('narrows I64 to i32 when every value fits', () => {
    const values = new BigInt64Array([0n, -(2n ** 31n), 2n ** 31n - 1n, 42n]);
    const file = readSafetensors(rawFile({ ids: { dtype: 'I64', shape: [2, 2], data_offsets: [0, 32] } }, bytesOf(values)));
    const ids = file.tensors.get('ids')!;
    expect(ids).toMatchObject({ dtype: 'i32', shape: [2, 2] });
    expect(ids.data).toBeInstanceOf(Int32Array);
    expect([...ids.data]).toEqual([0, -(2 ** 31), 2 ** 31 - 1, 42]);
  });

  it('rejects an I64 value outside int32, naming the tensor and element', () => {
    const values = new BigInt64Array([1n, 2n ** 31n]);
    const err = expectReadError(rawFile({ ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, bytesOf(values)), /"ids"/, /element 1 is 2147483648/, /int32/);
    expect(err.tensor).toBe('ids');
  });

  it('rejects dtypes it cannot represent, naming tensor and dtype', () => {
    expectReadError(rawFile({ mask: { dtype: 'BOOL', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)), /"mask"/, /"BOOL" is not supported/);
    expectReadError(rawFile({ q: { dtype: 'Q4_K', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)), /"q"/, /"Q4_K" is not a safetensors dtype/);
  });

  it('reads scalars and empty tensors', () => {
    const file = readSafetensors(rawFile({ s: f32Entry([], 0, 4), e: f32Entry([3, 0], 4, 4), z: f32Entry([0], 0, 0) }, bytesOf(new Float32Array([7]))));
    expect(file.tensors.get('s')).toMatchObject({ shape: [] });
    expect([...file.tensors.get('s')!.data]).toEqual([7]);
    expect(file.tensors.get('e')!.data.length).toBe(0);
    expect(file.tensors.get('z')!.data.length).toBe(0);
  });

  it('copies unaligned data out instead of viewing it', () => {
    // An unpadded header puts the data at an odd file offset, and the file itself starts at byte 1 of its buffer.
    const values = new Float32Array([1, 2, 3]);
    let header = JSON.stringify({ x: f32Entry([3], 0, 12) });
    while ((8 + header.length) % 4 !== 1) header += ' ';
    const file = rawFile(header, bytesOf(values));
    expect((8 + header.length) % 4).not.toBe(0);
    const shifted = new Uint8Array(file.length + 1);
    shifted.set(file, 1);
    const x = readSafetensors(shifted.subarray(1)).tensors.get('x')!;
    expect([...x.data]).toEqual([1, 2, 3]);
    // The result owns its memory: changing the input does not change it.
    shifted.fill(0);
    expect([...x.data]).toEqual([1, 2, 3]);
  });

  it('accepts tensor names that are special in JavaScript objects', () => {
    const bytes = rawFile('{"__proto__":' + JSON.stringify(f32Entry([1], 0, 4)) + ',"constructor":' + JSON.stringify(f32Entry([1], 4, 8)) + ',"__metadata__":{"__proto__":"x"}}', bytesOf(new Float32Array([1, 2])));
    const file = readSafetensors(bytes);
    expect([...file.tensors.keys()]).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(file.metadata)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(file.metadata, '__proto__')?.value).toBe('x');
  });
});

describe('readSafetensors: validation', () => {
  it('file shorter than 8 bytes', () => {
    const err = expectReadError(new Uint8Array(5), /file is 5 bytes/, /8-byte header length/);
    expect(err.offset).toBe(0);
  });

  it('header length past the end of the file', () => {
    expectReadError(rawFile('{}', new Uint8Array(0), 1000n), /truncated/, /header length 1000/, /needs 1008 bytes, but the file has 10/);
  });

  it('header length above the 100 MB bound, without allocating it', () => {
    expectReadError(rawFile('{}', new Uint8Array(0), BigInt(MAX_HEADER_BYTES) + 1n), /exceeds the 100000000-byte limit/);
    expectReadError(rawFile('{}', new Uint8Array(0), 2n ** 64n - 1n), /header length 18446744073709551615/, /limit/);
  });

  it('header that is not UTF-8', () => {
    const bytes = rawFile('{"a":1}');
    bytes[10] = 0xff;
    expectReadError(bytes, /not valid UTF-8/);
  });

  it('header that is not JSON', () => {
    expectReadError(rawFile('{"a": '), /not valid JSON/);
  });

  it('header that is not an object', () => {
    expectReadError(rawFile('[]'), /must be a JSON object, got an array/);
    expectReadError(rawFile('null'), /got null/);
    expectReadError(rawFile('42'), /got number 42/);
  });

  it('metadata that is not a map of strings', () => {
    expectReadError(rawFile({ __metadata__: [] }), /"__metadata__" must be an object of strings/);
    expectReadError(rawFile({ __metadata__: { n: 3 } }), /"__metadata__"."n" must be a string, got number 3/);
  });

  it('entry that is not an object', () => {
    expectReadError(rawFile({ w: 'F32' }), /tensor "w": entry must be an object, got the string "F32"/);
  });

  it('missing or non-string dtype', () => {
    expectReadError(rawFile({ w: { shape: [1], data_offsets: [0, 4] } }), /tensor "w": "dtype" must be a string, got undefined/);
    expectReadError(rawFile({ w: { dtype: 4, shape: [1], data_offsets: [0, 4] } }), /"dtype" must be a string/);
  });

  it('shape that is not a list of non-negative safe integers', () => {
    expectReadError(rawFile({ w: { dtype: 'F32', data_offsets: [0, 4] } }), /tensor "w": "shape" must be an array/);
    expectReadError(rawFile({ w: f32Entry([2, -1], 0, 4) }), /shape\[1\] must be a non-negative integer, got number -1/);
    expectReadError(rawFile({ w: f32Entry([1.5], 0, 4) }), /shape\[0\] must be a non-negative integer/);
    expectReadError(rawFile({ w: f32Entry([2 ** 53], 0, 4) }), /shape\[0\] must be a non-negative integer/);
    expectReadError(rawFile({ w: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }), /shape\[0\]/);
  });

  it('shape whose element count overflows', () => {
    expectReadError(rawFile({ w: f32Entry([2 ** 30, 2 ** 30, 2 ** 30], 0, 4) }), /tensor "w": shape \[.*\] has more elements than can be addressed/);
  });

  it('data_offsets that are not [begin, end] with begin <= end', () => {
    expectReadError(rawFile({ w: { dtype: 'F32', shape: [1] } }), /tensor "w": "data_offsets" must be \[begin, end\], got undefined/);
    expectReadError(rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }), /must be \[begin, end\], got an array/);
    expectReadError(rawFile({ w: f32Entry([1], -4, 0) }), /must be non-negative integers, got \[-4,0\]/);
    expectReadError(rawFile({ w: f32Entry([0], 8, 4) }), /data_offsets \[8, 4\] begin after they end/);
  });

  it('byte length that does not match shape and dtype', () => {
    expectReadError(rawFile({ w: f32Entry([2, 3], 0, 20) }, new Uint8Array(24)), /tensor "w": data_offsets \[0, 20\] span 20 bytes, but F32 shape \[2, 3\] needs 24/);
  });

  it('overlapping tensors', () => {
    const err = expectReadError(rawFile({ a: f32Entry([2], 0, 8), b: f32Entry([2], 4, 12) }, new Uint8Array(12)), /"a" \[0, 8\) and "b" \[4, 12\) overlap/);
    expect(err.tensor).toBe('b');
  });

  it('truncated data section, with expected and actual byte counts', () => {
    const full = writeSafetensors({ a: ndarray('f32', [4], [1, 2, 3, 4]), b: ndarray('f32', [2], [5, 6]) });
    const cut = full.subarray(0, full.length - 5);
    const err = expectReadError(cut, /truncated/, /tensor "b"/, new RegExp(`needs ${full.length} bytes, but it has ${cut.length}`));
    expect(err.tensor).toBe('b');
    expect(err.offset).toBe(cut.length);
  });
});

describe('readSafetensors: the data section is covered exactly (as the reference implementation requires)', () => {
  const a = new Float32Array([1, 2]);
  const b = new Float32Array([3]);

  it('a header length one byte short (the JSON ends in a padding space) is refused, not read one byte off', () => {
    const good = writeSafetensors(new Map([['a', { dtype: 'f32' as const, shape: [2], data: a }], ['b', { dtype: 'f32' as const, shape: [1], data: b }]]));
    expect(readSafetensors(good).tensors.get('b')!.data).toEqual(b);
    const headerLength = Number(new DataView(good.buffer, good.byteOffset).getBigUint64(0, true));
    expect(new TextDecoder().decode(good.subarray(8 + headerLength - 1, 8 + headerLength))).toBe(' '); // the writer pads with spaces
    const short = good.slice();
    new DataView(short.buffer).setBigUint64(0, BigInt(headerLength - 1), true);
    expectReadError(short, /1 trailing bytes after the last tensor/, /header length at offset 0 may be wrong/);
  });

  it('a gap between tensors, naming the bytes and the tensor after it', () => {
    const data = new Uint8Array(16);
    const err = expectReadError(rawFile({ a: f32Entry([2], 0, 8), b: f32Entry([1], 12, 16) }, data), /gap in the data section: bytes \[8, 12\) before tensor "b"/);
    expect(err.tensor).toBe('b');
  });

  it('a gap before the first tensor, and trailing bytes after the last', () => {
    expectReadError(rawFile({ a: f32Entry([1], 4, 8) }, new Uint8Array(8)), /gap in the data section: bytes \[0, 4\)/);
    expectReadError(rawFile({ a: f32Entry([1], 0, 4) }, new Uint8Array(9)), /5 trailing bytes after the last tensor/);
  });

  it('a tensor named twice (JSON.parse would keep the last)', () => {
    const header = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    const err = expectReadError(rawFile(header, new Uint8Array(8)), /tensor "a" is named twice in the header/);
    expect(err.tensor).toBe('a');
    // equal keys inside an entry or in strings are not tensor names
    expect(readSafetensors(rawFile('{"__metadata__":{"a":"{\\"a\\":1}"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4))).tensors.size).toBe(1);
  });

  it('a header that does not start with {', () => {
    expectReadError(rawFile(' {"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4)), /must start with '\{'/);
  });
});

describe('writeSafetensors', () => {
  it('writes the standard layout: aligned header, sorted names, packed data, metadata', () => {
    const bytes = writeSafetensors(
      new Map<string, NDArray>([
        ['b', ndarray('i32', [2], [1, -1])],
        ['a', ndarray('f32', [1, 2], [0.5, 2], 'f64')],
        ['10', ndarray('f32', [], [3])],
      ]),
      { format: 'pt' },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt"},"10":{"dtype":"F32","shape":[],"data_offsets":[0,4]},' +
        '"a":{"dtype":"F32","shape":[1,2],"data_offsets":[4,12]},"b":{"dtype":"I32","shape":[2],"data_offsets":[12,20]}}',
    );
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    expect(bytes.length).toBe(8 + n + 20);
    const file = readSafetensors(bytes);
    expect(file.tensors.get('a')!.data).toBeInstanceOf(Float32Array);
    expect([...file.tensors.get('b')!.data]).toEqual([1, -1]);
  });

  it('rounds float64 storage to float32', () => {
    const file = readSafetensors(writeSafetensors({ x: ndarray('f32', [1], [0.1], 'f64') }));
    expect(file.tensors.get('x')!.data[0]).toBe(Math.fround(0.1));
  });

  it('rejects what it cannot write', () => {
    expect(() => writeSafetensors({ __metadata__: ndarray('f32', [1], [1]) })).toThrow(/reserved/);
    expect(() => writeSafetensors({ x: { dtype: 'f32', shape: [3], data: new Float32Array(2) } })).toThrow(/2 values for shape \[3\] \(needs 3\)/);
    expect(() => writeSafetensors({ x: { dtype: 'f32', shape: [-1], data: new Float32Array(0) } })).toThrow(SafetensorsError);
    expect(() => writeSafetensors({ x: { dtype: 'i32', shape: [1], data: new Float64Array([0.5]) } })).toThrow(/not an int32/);
  });
});

/** Arbitrary tensors with their dtype's storage, float values as float32 bit patterns (NaN and -0 included). */
const arbTensor: fc.Arbitrary<NDArray> = fc
  .tuple(fc.constantFrom('f32' as const, 'i32' as const), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }))
  .chain(([dtype, shape]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    return fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: size, maxLength: size }).map((ints) => {
      const bits = Int32Array.from(ints);
      const data = dtype === 'i32' ? bits : new Float32Array(bits.buffer);
      return { dtype, shape, data } as NDArray;
    });
  });

const arbTensors = fc.dictionary(fc.string({ maxLength: 12 }).filter((s) => s !== '__metadata__'), arbTensor, { maxKeys: 6 });
const arbMetadata = fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 16 }), { maxKeys: 4 }), { nil: undefined });

describe('round trip and fuzzing', () => {
  it('reads back exactly what it wrote (property)', () => {
    fc.assert(
      fc.property(arbTensors, arbMetadata, (tensors, metadata) => {
        const file = readSafetensors(writeSafetensors(tensors, metadata));
        expect([...file.tensors.keys()].sort()).toEqual(Object.keys(tensors).sort());
        expect(file.metadata).toEqual(metadata ?? {});
        for (const [name, t] of Object.entries(tensors)) {
          const back = file.tensors.get(name)!;
          expect(back.dtype).toBe(t.dtype);
          expect(back.shape).toEqual(t.shape);
          expect(back.data.constructor).toBe(t.data.constructor);
          expect(bytesOf(back.data)).toEqual(bytesOf(t.data));
        }
      }),
      { numRuns: 300 },
    );
  });

  /** Either parses or throws SafetensorsError; anything else (TypeError, RangeError, a hang) fails the property. */
  const parsesOrRejects = (bytes: Uint8Array): void => {
    try {
      readSafetensors(bytes);
    } catch (e) {
      if (!(e instanceof SafetensorsError)) throw e;
    }
  };

  it('mutated or truncated files parse or throw SafetensorsError, nothing else (property)', () => {
    const valid = writeSafetensors(
      { emb: ndarray('f32', [3, 4], Array.from({ length: 12 }, (_, i) => i)), ids: ndarray('i32', [5], [1, 2, 3, 4, 5]), s: ndarray('f32', [], [1]) },
      { format: 'pt' },
    );
    const headerEnd = 8 + Number(new DataView(valid.buffer).getBigUint64(0, true));
    const arbEdit = fc.oneof(
      // Byte changes weighted towards the length prefix and the header, where the parsing happens.
      fc.record({ kind: fc.constant('set' as const), at: fc.integer({ min: 0, max: headerEnd - 1 }), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('set' as const), at: fc.integer({ min: 0, max: valid.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('digit' as const), at: fc.integer({ min: 8, max: headerEnd - 1 }), value: fc.integer({ min: 0, max: 9 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.integer({ min: 0, max: valid.length }), value: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.array(arbEdit, { minLength: 1, maxLength: 4 }), (edits) => {
        let bytes = valid.slice();
        for (const { kind, at, value } of edits) {
          if (kind === 'truncate') bytes = bytes.slice(0, Math.min(at, bytes.length));
          else if (at < bytes.length) {
            // 'digit' rewrites an existing digit (an offset or dim), keeping the JSON valid more often.
            if (kind === 'set') bytes[at] = value;
            else if (bytes[at]! >= 0x30 && bytes[at]! <= 0x39) bytes[at] = 0x30 + value;
          }
        }
        parsesOrRejects(bytes);
      }),
      { numRuns: 3000 },
    );
  });

  it('random JSON headers over random data parse or throw SafetensorsError (property)', () => {
    const dim = fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom(-1, 0.5, 2 ** 53, 1e308, '3', null));
    const offset = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(-1, 1.5, 2 ** 60, '0'));
    const entry = fc.oneof(
      fc.record(
        {
          dtype: fc.constantFrom('F32', 'F64', 'F16', 'BF16', 'I32', 'I64', 'U8', 'BOOL', 'X', 7),
          shape: fc.oneof(fc.array(dim, { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
          data_offsets: fc.oneof(fc.tuple(offset, offset), fc.array(offset, { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
        },
        { requiredKeys: [] },
      ),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const header = fc.oneof(
      fc.dictionary(fc.oneof(fc.constantFrom('__metadata__', '__proto__'), fc.string({ maxLength: 4 })), entry, { maxKeys: 4 }),
      fc.jsonValue({ maxDepth: 2 }),
    );
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 80 }), (h, data) => parsesOrRejects(rawFile(h, data))),
      { numRuns: 3000 },
    );
  });
});

describe('fixtures', () => {
  it('reads reverse-golden.safetensors (PyTorch-written)', async () => {
    const file = await readSafetensorsFile(join(FIXTURES, 'reverse-golden.safetensors'));
    expect(file.metadata).toEqual({});
    const t = (name: string) => file.tensors.get(name)!;
    expect([...file.tensors.keys()].sort()).toEqual(['logits_f32', 'logits_f64', 'memory_f32', 'memory_f64', 'src', 'tgt_in']);
    expect(t('src')).toMatchObject({ dtype: 'i32', shape: [3, 25] });
    expect(t('tgt_in')).toMatchObject({ dtype: 'i32', shape: [3, 26] });
    expect(t('logits_f32')).toMatchObject({ dtype: 'f32', shape: [3, 26, 30] });
    expect(t('logits_f64').data).toBeInstanceOf(Float64Array);
    expect(t('memory_f32').shape).toEqual([3, 25, 128]);

    // Row 0 is "hello world": id = 3 + index in "abc...z ", padded with 0.
    const ids = [...'hello world'].map((c) => 3 + 'abcdefghijklmnopqrstuvwxyz '.indexOf(c));
    expect([...t('src').data.slice(0, 25)]).toEqual([...ids, ...new Array(25 - ids.length).fill(0)]);
    expect([...t('tgt_in').data.slice(0, 1 + ids.length)]).toEqual([1, ...ids.reverse()]);

    // The float32 and float64 runs of the same model agree to float32 accuracy.
    for (const name of ['logits', 'memory']) {
      const a = t(`${name}_f32`).data, b = t(`${name}_f64`).data;
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      expect(worst).toBeGreaterThan(0);
      expect(worst).toBeLessThan(1e-3);
    }
  });

  it('writing the fixture back gives the same tensors (float64 ones rounded to float32)', async () => {
    // A Node Buffer on purpose: its slice() is a view, which the reader must not rely on.
    const original = await readFile(join(FIXTURES, 'reverse-golden.safetensors'));
    const file = readSafetensors(original);
    const again = readSafetensors(writeSafetensors(file.tensors, file.metadata));
    expect(again.metadata).toEqual(file.metadata);
    for (const [name, t] of file.tensors) {
      const back = again.tensors.get(name)!;
      expect(back.shape).toEqual(t.shape);
      expect([...back.data]).toEqual([...(t.data instanceof Float64Array ? Float32Array.from(t.data) : t.data)]);
    }
  });
});

describe('readSafetensorsFile / writeSafetensorsFile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'loom-safetensors-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads regular files only: a device is refused without reading it', async () => {
    await expect(readSafetensorsFile('/dev/zero')).rejects.toThrow(/\/dev\/zero: not a regular file/);
  });

  it('writes through a temporary file and renames it, leaving nothing else behind', async () => {
    const path = join(dir, 'w.safetensors');
    await writeFile(path, 'old contents');
    await writeSafetensorsFile(path, { w: ndarray('f32', [2], [1, 2]) }, { note: 'x' });
    expect(await readdir(dir)).toEqual(['w.safetensors']);
    const file = await readSafetensorsFile(path);
    expect([...file.tensors.get('w')!.data]).toEqual([1, 2]);
    expect(file.metadata).toEqual({ note: 'x' });
  });

  it('keeps the old file when writing fails', async () => {
    const path = join(dir, 'w.safetensors');
    await writeFile(path, 'old contents');
    await expect(writeSafetensorsFile(path, { x: { dtype: 'f32', shape: [3], data: new Float32Array(1) } })).rejects.toThrow(SafetensorsError);
    await expect(writeSafetensorsFile(join(dir, 'missing-folder', 'w.safetensors'), {})).rejects.toThrow(/ENOENT/);
    expect(await readFile(path, 'utf8')).toBe('old contents');
    expect(await readdir(dir)).toEqual(['w.safetensors']);
  });

  it('publishing that fails after the bytes were written (the target is a folder) removes the temporary file and keeps the target', async () => {
    const target = join(dir, 'taken.safetensors');
    await mkdir(target);
    await writeFile(join(target, 'inside'), 'keep');
    await expect(writeSafetensorsFile(target, { w: ndarray('f32', [1], [1]) })).rejects.toThrow(/is not a regular file \(a directory\)/);
    expect(await readdir(dir)).toEqual(['taken.safetensors']);
    expect(await readFile(join(target, 'inside'), 'utf8')).toBe('keep');
  });

  it('names the path in errors', async () => {
    const path = join(dir, 'bad.safetensors');
    await writeFile(path, new Uint8Array(3));
    await expect(readSafetensorsFile(path)).rejects.toThrow(`${path}: file is 3 bytes`);
  });
});

describe('checkpoints larger than 2 GiB', () => {
  it('are read header first and then tensor by tensor at their offsets (a sparse 2.1 GiB file)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loom-big-'));
    const path = join(dir, 'big.safetensors');
    const bigBytes = 2 ** 31 + 2 ** 20; // past the 2 GiB a single Buffer read or readFile is capped at
    const header = JSON.stringify({
      big: { dtype: 'F32', shape: [bigBytes / 4], data_offsets: [0, bigBytes] },
      tail: { dtype: 'F32', shape: [4], data_offsets: [bigBytes, bigBytes + 16] },
    });
    const padded = header + ' '.repeat((8 - ((8 + header.length) % 8)) % 8);
    const start = Buffer.alloc(8 + padded.length);
    start.writeBigUInt64LE(BigInt(padded.length), 0);
    start.write(padded, 8, 'utf8');
    const fd = openSync(path, 'w');
    try {
      writeSync(fd, start, 0, start.length, 0);
      ftruncateSync(fd, start.length + bigBytes + 16); // sparse: the 2 GiB of zeros take no disk
      writeSync(fd, Buffer.from(Float32Array.of(1.5, -2, 3.25, 4e-3).buffer), 0, 16, start.length + bigBytes);
    } finally {
      closeSync(fd);
    }
    expect(statSync(path).size).toBeGreaterThan(2 ** 31);
    const { tensors } = await readSafetensorsFile(path, { names: new Set(['tail']) });
    expect([...tensors.keys()]).toEqual(['tail']);
    expect(Array.from(tensors.get('tail')!.data)).toEqual([1.5, -2, 3.25, Math.fround(4e-3)]);
    // the header is still checked against the whole file: one byte short of the tail is an error
    truncateSync(path, start.length + bigBytes + 15);
    await expect(readSafetensorsFile(path, { names: new Set(['tail']) })).rejects.toThrow(/tail/);
    rmSync(dir, { recursive: true, force: true });
  });
});

/**
 * A small WebAssembly binary writer for the kernels the cpu backend generates at prepare time
 * (elementwise-wasm.ts): one module importing the shared heap memory as `env.memory`, functions over
 * i32, f32 and v128 locals, some exported. Only the instructions those kernels use are spelled here;
 * each is checked against wabt's encoding in test/wasm-module.test.ts.
 */

export type ValType = 'i32' | 'f32' | 'v128';
const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

export function uleb(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

export function sleb(value: number): number[] {
  const bytes: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    const done = (value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}

const f32Bytes = (value: number): number[] => [...new Uint8Array(new Float32Array([value]).buffer)];
const utf8 = (text: string): number[] => [...new TextEncoder().encode(text)];
const vector = (items: readonly number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

/** SIMD opcodes (after the 0xfd prefix) by the text format's name. */
const SIMD = {
  'v128.load': 0x00, 'v128.load32_splat': 0x09, 'v128.store': 0x0b, 'v128.const': 0x0c,
  'i32x4.splat': 0x11, 'f32x4.splat': 0x13, 'f64x2.splat': 0x14, 'i32x4.extract_lane': 0x1b, 'f32x4.extract_lane': 0x1f, 'f64x2.extract_lane': 0x21,
  'i32x4.eq': 0x37, 'i32x4.ne': 0x38, 'i32x4.lt_s': 0x39, 'i32x4.gt_s': 0x3b, 'i32x4.le_s': 0x3d, 'i32x4.ge_s': 0x3f,
  'f32x4.eq': 0x41, 'f32x4.ne': 0x42, 'f32x4.lt': 0x43, 'f32x4.gt': 0x44, 'f32x4.le': 0x45, 'f32x4.ge': 0x46,
  'f64x2.eq': 0x47, 'f64x2.ne': 0x48, 'f64x2.lt': 0x49, 'f64x2.gt': 0x4a, 'f64x2.le': 0x4b, 'f64x2.ge': 0x4c,
  'v128.not': 0x4d, 'v128.and': 0x4e, 'v128.andnot': 0x4f, 'v128.or': 0x50, 'v128.xor': 0x51, 'v128.bitselect': 0x52,
  'v128.store32_lane': 0x5a, 'v128.store64_lane': 0x5b, 'v128.load32_zero': 0x5c, 'v128.load64_zero': 0x5d,
  'f32x4.demote_f64x2_zero': 0x5e, 'f64x2.promote_low_f32x4': 0x5f,
  'f32x4.nearest': 0x6a, 'f64x2.trunc': 0x7a, 'f64x2.nearest': 0x94,
  'i32x4.abs': 0xa0, 'i32x4.neg': 0xa1, 'i32x4.shl': 0xab, 'i32x4.add': 0xae, 'i32x4.sub': 0xb1, 'i32x4.mul': 0xb5,
  'i32x4.min_s': 0xb6, 'i32x4.max_s': 0xb8, 'i64x2.shl': 0xcb, 'i64x2.add': 0xce, 'i64x2.sub': 0xd1,
  'f32x4.abs': 0xe0, 'f32x4.neg': 0xe1, 'f32x4.sqrt': 0xe3, 'f32x4.add': 0xe4, 'f32x4.sub': 0xe5, 'f32x4.mul': 0xe6,
  'f32x4.div': 0xe7, 'f32x4.min': 0xe8, 'f32x4.max': 0xe9,
  'f64x2.abs': 0xec, 'f64x2.neg': 0xed, 'f64x2.sqrt': 0xef, 'f64x2.add': 0xf0, 'f64x2.sub': 0xf1, 'f64x2.mul': 0xf2,
  'f64x2.div': 0xf3, 'f64x2.min': 0xf4, 'f64x2.max': 0xf5,
  'i32x4.trunc_sat_f32x4_s': 0xf8, 'f32x4.convert_i32x4_s': 0xfa, 'i32x4.trunc_sat_f64x2_s_zero': 0xfc, 'f64x2.convert_low_i32x4_s': 0xfe,
} as const;
export type SimdOp = keyof typeof SIMD;

/** Plain opcodes by name (no immediates, or the ones `Code` adds). */
const PLAIN = {
  'i32.eqz': 0x45, 'i32.lt_u': 0x49, 'i32.gt_u': 0x4b, 'i32.le_u': 0x4d, 'i32.ge_u': 0x4f,
  'i32.add': 0x6a, 'i32.sub': 0x6b, 'i32.mul': 0x6c, 'i32.shl': 0x74, select: 0x1b, drop: 0x1a, return: 0x0f,
} as const;
export type PlainOp = keyof typeof PLAIN;

/** One function body under construction: locals by name, then instructions appended in order. */
export class Code {
  readonly bytes: number[] = [];
  private readonly locals: { name: string; type: ValType }[] = [];
  private readonly index = new Map<string, number>();

  constructor(readonly params: readonly { name: string; type: ValType }[], readonly result?: ValType) {
    params.forEach((p, i) => this.index.set(p.name, i));
  }

  /** Declares a local (once per name; a second call returns the same one). */
  local(name: string, type: ValType): string {
    if (!this.index.has(name)) {
      this.index.set(name, this.params.length + this.locals.length);
      this.locals.push({ name, type });
    }
    return name;
  }

  private slot(name: string): number[] {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`wasm codegen: no local '${name}'`);
    return uleb(i);
  }

  get(name: string): this { return this.emit(0x20, ...this.slot(name)); }
  set(name: string): this { return this.emit(0x21, ...this.slot(name)); }
  tee(name: string): this { return this.emit(0x22, ...this.slot(name)); }
  i32(value: number): this { return this.emit(0x41, ...sleb(value | 0)); }
  f32(value: number): this { return this.emit(0x43, ...f32Bytes(value)); }
  op(name: PlainOp): this { return this.emit(PLAIN[name]); }
  simd(name: SimdOp): this { return this.emit(0xfd, ...uleb(SIMD[name])); }
  /** A SIMD load or store at a constant byte offset (`lane`: the lane a store*_lane writes). */
  memory(name: 'v128.load' | 'v128.load32_splat' | 'v128.store' | 'v128.load32_zero' | 'v128.load64_zero' | 'v128.store32_lane' | 'v128.store64_lane', offset = 0, lane?: number): this {
    const align = name.includes('32') ? 2 : name.includes('64') ? 3 : 4;
    return this.emit(0xfd, ...uleb(SIMD[name]), align, ...uleb(offset), ...(lane === undefined ? [] : [lane]));
  }
  /** Scalar loads and stores (4 bytes, aligned). */
  scalar(name: 'f32.load' | 'i32.load' | 'f32.store' | 'i32.store', offset = 0): this {
    const opcode = { 'i32.load': 0x28, 'f32.load': 0x2a, 'i32.store': 0x36, 'f32.store': 0x38 }[name];
    return this.emit(opcode, 2, ...uleb(offset));
  }
  /** v128.const with every lane `value`: four f32 or i32 lanes, or two f64 or i64 lanes. */
  splatConst(value: number | bigint, lanes: 'f32' | 'i32' | 'f64' | 'i64' = 'f32'): this {
    const lane =
      lanes === 'f32' ? f32Bytes(Number(value))
      : lanes === 'i32' ? [...new Uint8Array(new Int32Array([Number(value)]).buffer)]
      : lanes === 'f64' ? [...new Uint8Array(new Float64Array([Number(value)]).buffer)]
      : [...new Uint8Array(new BigInt64Array([BigInt(value)]).buffer)];
    const bytes = lanes === 'f32' || lanes === 'i32' ? [...lane, ...lane, ...lane, ...lane] : [...lane, ...lane];
    return this.emit(0xfd, ...uleb(SIMD['v128.const']), ...bytes);
  }
  lane(name: 'f32x4.extract_lane' | 'i32x4.extract_lane' | 'f64x2.extract_lane', lane: number): this { return this.emit(0xfd, ...uleb(SIMD[name]), lane); }
  call(index: number): this { return this.emit(0x10, ...uleb(index)); }
  block(): this { return this.emit(0x02, 0x40); }
  loop(): this { return this.emit(0x03, 0x40); }
  end(): this { return this.emit(0x0b); }
  br(depth: number): this { return this.emit(0x0c, ...uleb(depth)); }
  brIf(depth: number): this { return this.emit(0x0d, ...uleb(depth)); }

  private emit(...bytes: number[]): this {
    this.bytes.push(...bytes);
    return this;
  }

  /** The encoded body: local declarations (one group per local), instructions, end. */
  encode(): number[] {
    const locals = vector(this.locals.map((l) => [1, VALTYPE[l.type]]));
    const body = [...locals, ...this.bytes, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

export interface ModuleFunction {
  readonly code: Code;
  /** Exported under this name, if given. */
  readonly export?: string;
}

/** A module importing `env.memory` (shared, up to 4 GiB) with `functions` in order (function index = position). */
export function encodeModule(functions: readonly ModuleFunction[]): Uint8Array<ArrayBuffer> {
  const types = functions.map((f) => [0x60, ...vector(f.code.params.map((p) => [VALTYPE[p.type]])), ...(f.code.result ? [1, VALTYPE[f.code.result]] : [0])]);
  const memoryImport = [...uleb(3), ...utf8('env'), ...uleb(6), ...utf8('memory'), 0x02, 0x03, ...uleb(1), ...uleb(65536)];
  const exports = functions.flatMap((f, i) => (f.export ? [[...uleb(utf8(f.export).length), ...utf8(f.export), 0x00, ...uleb(i)]] : []));
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector(types)),
    ...section(2, vector([memoryImport])),
    ...section(3, vector(functions.map((_, i) => uleb(i)))),
    ...section(7, vector(exports)),
    ...section(10, vector(functions.map((f) => f.code.encode()))),
  ]);
}

/**
 * Random well-typed graphs for property tests (this package's and the compiler's).
 *
 * A case is drawn as plain data, a list of op *recipes* (kind plus a few small integers), and then
 * built: each recipe picks its operands from the values built so far (indices taken modulo the pool),
 * adapts them to fit its op (broadcasting partners, static axes, divisors, ...), and falls back to a
 * simpler op when nothing fits. So every list of recipes builds a valid graph, and fast-check's
 * shrinking (dropping recipes, lowering integers, picking earlier kinds) lands on small graphs.
 *
 * Values are kept where float32 is well-conditioned, by construction:
 * - feeds and weights are multiples of 1/8 in [-2, 2] (exact in float32);
 * - domains are guarded in the graph itself: log(|x| + 1), sqrt(|x| + 1), 1 / (|y| + 1), pow(|x| + 1,
 *   tanh(y)), and an operand whose magnitude bound would grow past MAG_LIMIT goes through tanh first;
 * - comparisons and float-to-int casts (where float32 and float64 could take different sides) only read
 *   values that are provably exact in float32: dyadic rationals built by exact ops (tracked per value);
 * - gather and scatter_add indices come from dedicated i32 inputs whose feeds stay inside the table,
 *   cross-entropy labels from ones inside the classes or equal to the ignore index, dropout seeds from
 *   i32 inputs too;
 * - attention masks (-1e30) only ever reach attention scores.
 */
import fc from 'fast-check';
import {
  BINARY_FUNCTIONS,
  COMPARE_FUNCTIONS,
  expandOps,
  GraphBuilder,
  mulberry32,
  ndarray,
  printGraph,
  resolveShape,
  shapeEquals,
  UNARY_FUNCTIONS,
  type BinaryName,
  type CompareName,
  type Dim,
  type DType,
  type Graph,
  type NDArray,
  type NodeRef,
  type Shape,
  type UnaryName,
} from '../index.ts';

/** Static sizes drawn for axes: 1 and odd primes (and 2), so broadcasting and odd tails get exercised. */
export const STATIC_DIMS = [1, 2, 3, 5, 7] as const;
export const SYMBOLS = ['batch', 'seq'] as const;
/** Values the symbols take at run time (the largest bounds magnitudes). */
const BATCH_SIZES = [1, 2, 3] as const;
const SEQ_SIZES = [1, 2, 3, 5] as const;
const MAX_BINDING: Readonly<Record<string, number>> = { batch: 3, seq: 5 };

/** At most this many unread values become outputs. */
const MAX_SINK_OUTPUTS = 4;
/** Magnitude bound past which an operand is squashed with tanh first. */
const MAG_LIMIT = 1e3;
/** Scalar constants ops combine with: 0 and 1 feed the algebraic identities. */
const SPECIAL_CONSTANTS = [1, 0, 2, 0.5, -1, 0.25, 3] as const;

export const RECIPE_KINDS = [
  'unary',
  'binary',
  'constant',
  'compare',
  'where',
  'cast',
  'matmul',
  'reduce',
  'softmax',
  'layer_norm',
  'gather',
  'reshape',
  'transpose',
  'slice',
  'concat',
  'range',
  'sdpa',
  'linear',
  'embed',
  'posenc',
  'attention',
  'add_norm',
  'ffn',
  'rms_norm',
  'rope',
  'glu_ffn',
  'scatter_add',
  'softmax_cross_entropy',
  'dropout',
  'logical',
  'top_k',
  'expert_matmul',
  'moe_ffn',
  'quantized_matmul',
  'int8_activations',
] as const;
export type RecipeKind = (typeof RECIPE_KINDS)[number];

/** Kinds whose ops have no gradient rule (rounding): gradient properties draw the others. */
export const FORWARD_ONLY_KINDS: readonly RecipeKind[] = ['int8_activations'];
export const GRADIENT_KINDS: readonly RecipeKind[] = RECIPE_KINDS.filter((k) => !FORWARD_ONLY_KINDS.includes(k));

/** Kinds drawn by default: every kind; elementwise ones and spelled-out attention more often. */
const DEFAULT_KINDS: readonly RecipeKind[] = [...RECIPE_KINDS, 'unary', 'binary', 'binary', 'constant', 'sdpa'];

/** One op to add: what kind, and small integers each kind reads as it needs (operand picks, modes, ...). */
export interface Recipe {
  readonly kind: RecipeKind;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly x: number;
  readonly flag: boolean;
}

export interface GraphSpec {
  /** Width of the main input x[batch, seq, width]. */
  readonly width: number;
  /** Shapes of further f32 inputs. */
  readonly extraInputs: readonly (readonly Dim[])[];
  readonly bindings: { readonly batch: number; readonly seq: number };
  readonly recipes: readonly Recipe[];
  /** Pool indices (mod pool size, from the newest) of outputs besides the unread values. */
  readonly outputs: readonly number[];
  readonly seed: number;
}

export interface GraphCase {
  readonly graph: Graph;
  readonly feeds: Readonly<Record<string, NDArray>>;
  readonly weights: ReadonlyMap<string, NDArray>;
  readonly bindings: Readonly<Record<string, number>>;
  readonly spec: GraphSpec;
}

export interface ArbitraryGraphOptions {
  readonly maxRecipes?: number;
  /** Restrict the recipe kinds drawn (e.g. only primitives). */
  readonly kinds?: readonly RecipeKind[];
}

const recipeArb = (kinds: readonly RecipeKind[]): fc.Arbitrary<Recipe> =>
  fc.record({
    kind: fc.constantFrom(...kinds),
    a: fc.nat(63),
    b: fc.nat(63),
    c: fc.nat(63),
    x: fc.nat(1023),
    flag: fc.boolean(),
  });

const dimArb: fc.Arbitrary<Dim> = fc.constantFrom<Dim>(1, 2, 3, 5, 7, 'batch', 'seq');

export function arbitraryGraphSpec(options: ArbitraryGraphOptions = {}): fc.Arbitrary<GraphSpec> {
  return fc.record({
    width: fc.constantFrom(2, 3, 6, 1, 5, 4),
    extraInputs: fc.array(fc.array(dimArb, { minLength: 1, maxLength: 3 }), { maxLength: 2 }),
    bindings: fc.record({ batch: fc.constantFrom(...BATCH_SIZES), seq: fc.constantFrom(...SEQ_SIZES) }),
    recipes: fc.array(recipeArb(options.kinds ?? DEFAULT_KINDS), { minLength: 1, maxLength: options.maxRecipes ?? 10 }),
    outputs: fc.array(fc.nat(63), { minLength: 1, maxLength: 2 }),
    seed: fc.nat(),
  });
}

/** Random graphs with their feeds and weights; counterexamples print as the graph. */
export function arbitraryGraphCase(options: ArbitraryGraphOptions = {}): fc.Arbitrary<GraphCase> {
  return arbitraryGraphSpec(options).map(buildGraphCase);
}

// ---------------------------------------------------------------------------------------------------
// building

/** A value in the pool: its node, and bounds that keep later ops well-conditioned. */
interface Value {
  readonly ref: NodeRef;
  readonly dtype: DType;
  readonly shape: readonly Dim[];
  /** Upper bound on |element| at any binding. */
  readonly mag: number;
  /** For f32: the value is a multiple of 2^-bits (exact in float32 while mag * 2^bits < 2^24). */
  readonly bits?: number;
}

interface IndexFeed {
  readonly name: string;
  /** Values drawn from [0, limit). */
  readonly limit: number;
  /** A value (an ignore index) that replaces about a quarter of them. */
  readonly ignore?: number;
  /** The first value along the last axis is at least 1 (a keep mask that keeps a row's first key). */
  readonly keepFirst?: boolean;
}

class CaseBuilder {
  readonly b = new GraphBuilder();
  readonly pool: Value[] = [];
  readonly indexFeeds: IndexFeed[] = [];
  private params = 0;
  private inputs = 0;

  constructor(readonly spec: GraphSpec) {}

  value(ref: NodeRef, mag: number, bits?: number): Value {
    const t = this.b.typeOf(ref);
    return { ref, dtype: t.dtype, shape: t.shape, mag: t.dtype === 'i32' ? Math.min(mag, 2 ** 31) : mag, ...(bits !== undefined ? { bits } : {}) };
  }

  add(op: string, inputs: readonly Value[] | readonly NodeRef[], attrs: Record<string, unknown> = {}): NodeRef {
    return this.b.add(op, inputs.map((v) => (typeof v === 'number' ? v : v.ref)), attrs, 'arbitrary');
  }

  constant(value: number | readonly number[], shape: readonly number[] = [], dtype: DType = 'f32'): Value {
    const values = typeof value === 'number' ? [value] : value;
    const mag = Math.max(...values.map(Math.abs));
    return this.value(this.add('constant', [], { dtype, shape: [...shape], values: [...values] }), mag, dtype === 'f32' ? fractionBits(values) : undefined);
  }

  /** A weight with static shape and values k/8 in [-1, 1]. */
  param(shape: readonly number[], mag = 1): Value {
    const name = `w${this.params++}`;
    return this.value(this.b.add('param', [], { name, dtype: 'f32', shape: [...shape] }, 'arbitrary'), mag, 3);
  }

  /** An i32 input whose feed holds values in [0, limit) (gather indices, token ids), a quarter of them `ignore` if given. */
  indexInput(shape: readonly Dim[], limit: number, ignore?: number, keepFirst = false): Value {
    const name = `ids${this.inputs++}`;
    this.indexFeeds.push({ name, limit, ...(ignore !== undefined ? { ignore } : {}), ...(keepFirst ? { keepFirst } : {}) });
    return this.value(this.b.add('input', [], { name, dtype: 'i32', shape: [...shape] }, 'arbitrary'), Math.max(limit, Math.abs(ignore ?? 0)));
  }

  /** The k-th pool value (mod the candidates) among those passing `filter`. */
  pick(k: number, filter: (v: Value) => boolean = () => true): Value | undefined {
    const candidates = this.pool.filter(filter);
    return candidates.length === 0 ? undefined : candidates[k % candidates.length];
  }

  /** tanh(v) when v could exceed `limit` (f32 only), so products and exponentials stay finite and tame. */
  tame(v: Value, limit = MAG_LIMIT): Value {
    if (v.dtype !== 'f32' || v.mag <= limit) return v;
    return this.value(this.add('tanh', [v]), 1);
  }

  /** |v| + 1: a positive operand at least 1 (divisors, log and sqrt arguments, pow bases). */
  atLeastOne(v: Value): Value {
    const abs = this.value(this.add('abs', [v]), v.mag, v.bits);
    return this.value(this.add('add', [abs, this.constant(1)]), v.mag + 1);
  }
}

/** Whether an f32 value is exactly representable (and computed exactly) in float32. */
function isExact(v: Value): boolean {
  return v.dtype === 'i32' || (v.bits !== undefined && v.mag * 2 ** v.bits < 2 ** 24);
}

function fractionBits(values: readonly number[]): number | undefined {
  let bits = 0;
  for (const v of values) {
    while (bits <= 8 && !Number.isInteger(v * 2 ** bits)) bits++;
    if (bits > 8) return undefined;
  }
  return bits;
}

function bound(d: Dim): number {
  return resolveShape([d], new Map(Object.entries(MAX_BINDING)))[0]!;
}

function isStaticShape(shape: readonly Dim[]): shape is readonly number[] {
  return shape.every((d) => typeof d === 'number');
}

function broadcasts(a: readonly Dim[], b: readonly Dim[]): boolean {
  const rank = Math.max(a.length, b.length);
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return false;
  }
  return true;
}

/** A static shape that broadcasts into `shape`: a suffix of it, some axes (and every symbolic one) set to 1. */
function broadcastableShape(shape: readonly Dim[], drop: number, ones: number): number[] {
  return shape.slice(drop % (shape.length + 1)).map((d, i) => (typeof d !== 'number' || (ones >> i) & 1 ? 1 : d));
}

const UNARY = Object.keys(UNARY_FUNCTIONS) as UnaryName[];
const BINARY = Object.keys(BINARY_FUNCTIONS) as BinaryName[];
const COMPARE = Object.keys(COMPARE_FUNCTIONS) as CompareName[];

type Build = (s: CaseBuilder, r: Recipe) => Value | undefined;

const unary: Build = (s, r) => {
  const op = UNARY[r.x % UNARY.length]!;
  const ints = UNARY_FUNCTIONS[op].ints;
  let x = s.pick(r.a, (v) => ints || v.dtype === 'f32');
  if (!x) return undefined;
  switch (op) {
    case 'log':
    case 'sqrt':
    case 'rsqrt':
    case 'reciprocal': {
      const arg = s.atLeastOne(s.tame(x));
      const mag = op === 'log' ? Math.log(arg.mag) : op === 'sqrt' ? Math.sqrt(arg.mag) : 1;
      return s.value(s.add(op, [arg]), mag);
    }
    case 'exp':
      x = s.tame(x, 5);
      return s.value(s.add(op, [x]), Math.exp(x.mag));
    case 'neg':
    case 'abs':
    case 'relu':
      return s.value(s.add(op, [x]), x.mag, x.bits);
    case 'gelu':
    case 'gelu_tanh':
      return s.value(s.add(op, [x]), x.mag);
    default:
      return s.value(s.add(op, [x]), 1);
  }
};

/** The constant that leaves `op` unchanged on the right (x + 0, x * 1, ...): the simplifier's targets. */
const IDENTITY: Partial<Record<BinaryName, number>> = { add: 0, sub: 0, mul: 1, div: 1, pow: 1 };

/**
 * A second operand for `a`: another value that broadcasts with it, a new weight, or a scalar constant
 * (half the time the op's identity element, else one of SPECIAL_CONSTANTS).
 */
function partner(s: CaseBuilder, r: Recipe, a: Value, op: BinaryName): Value {
  const mode = r.c % 4; // 0: a pool value, 1: a new weight, 2 and 3: a scalar constant
  if (mode === 0) {
    const other = s.pick(r.b, (v) => v.dtype === a.dtype && broadcasts(v.shape, a.shape) && v.ref !== a.ref);
    if (other) return other;
  }
  if (mode === 1 && a.dtype === 'f32') return s.param(broadcastableShape(a.shape, r.b, r.x >> 4));
  const c = r.b % 2 === 0 ? (IDENTITY[op] ?? 1) : SPECIAL_CONSTANTS[(r.b >> 1) % SPECIAL_CONSTANTS.length]!;
  return a.dtype === 'i32' ? s.constant(Math.round(c), [], 'i32') : s.constant(c);
}

const binary: Build = (s, r) => {
  const op = BINARY[r.x % BINARY.length]!;
  const ints = BINARY_FUNCTIONS[op].ints;
  let a = s.pick(r.a, (v) => ints || v.dtype === 'f32');
  if (!a) return undefined;
  let b = partner(s, r, a, op);
  if (r.flag) [a, b] = [b, a];
  const exactBits = isExact(a) && isExact(b) && a.dtype === 'f32' ? Math.max(a.bits!, b.bits!) : undefined;
  switch (op) {
    case 'add':
    case 'sub':
      return s.value(s.add(op, [a, b]), a.mag + b.mag, exactBits);
    case 'maximum':
    case 'minimum':
      return s.value(s.add(op, [a, b]), Math.max(a.mag, b.mag), exactBits);
    case 'broadcast_like':
      return s.value(s.add(op, [a, b]), a.mag, a.bits);
    case 'mul': {
      if (a.dtype === 'f32' && a.mag * b.mag > MAG_LIMIT) [a, b] = [s.tame(a, 1), s.tame(b, 1)];
      const bits = isExact(a) && isExact(b) && a.dtype === 'f32' ? a.bits! + b.bits! : undefined;
      return s.value(s.add(op, [a, b]), a.mag * b.mag, bits);
    }
    case 'div': {
      if (a.dtype === 'i32') return s.value(s.add(op, [a, b]), a.mag); // integer division: defined for any divisor
      const divisor = b.mag >= 1 && s.b.node(b.ref).op === 'constant' && Math.abs(constantValue(s, b)) >= 1 ? b : s.atLeastOne(s.tame(b));
      return s.value(s.add(op, [a, divisor]), a.mag);
    }
    case 'pow': {
      const base = s.atLeastOne(s.tame(a, 10));
      const exponent = b.mag > 1 ? s.tame(b, 0) : b;
      return s.value(s.add(op, [base, exponent]), base.mag);
    }
  }
};

function constantValue(s: CaseBuilder, v: Value): number {
  const values = s.b.node(v.ref).attrs['values'] as number[];
  return values.length === 1 ? values[0]! : NaN;
}

const constant: Build = (s, r) => {
  const value = SPECIAL_CONSTANTS[r.x % SPECIAL_CONSTANTS.length]!;
  if (!r.flag) return r.c % 4 === 0 ? s.constant(Math.round(value), [], 'i32') : s.constant(value);
  const shape: number[] = [STATIC_DIMS[r.a % STATIC_DIMS.length]!, STATIC_DIMS[r.b % STATIC_DIMS.length]!].slice(r.c % 2);
  const n = shape.reduce((p, d) => p * d, 1);
  return s.constant(Array.from({ length: n }, (_, i) => ((i * 7 + r.x) % 17) / 8 - 1), shape);
};

const compare: Build = (s, r) => {
  const op = COMPARE[r.x % COMPARE.length]!;
  const a = s.pick(r.a, isExact);
  if (!a) return undefined;
  let b = s.pick(r.b, (v) => isExact(v) && v.dtype === a.dtype && broadcasts(v.shape, a.shape));
  if (!b || r.c % 2 === 0) b = s.constant(a.dtype === 'i32' ? 1 : SPECIAL_CONSTANTS[r.c % SPECIAL_CONSTANTS.length]!, [], a.dtype);
  const [x, y] = r.flag ? [b, a] : [a, b];
  return s.value(s.add(op, [x, y]), 1);
};

const where: Build = (s, r) => {
  const cond = s.pick(r.c, (v) => v.dtype === 'i32');
  if (!cond) return undefined;
  const a = s.pick(r.a, (v) => broadcasts(v.shape, cond.shape));
  if (!a) return undefined;
  let b = s.pick(r.b, (v) => v.dtype === a.dtype && broadcasts(v.shape, a.shape) && broadcasts(v.shape, cond.shape));
  if (!b || r.flag) b = s.constant(a.dtype === 'i32' ? 0 : SPECIAL_CONSTANTS[r.x % SPECIAL_CONSTANTS.length]!, [], a.dtype);
  const bits = isExact(a) && isExact(b) && a.dtype === 'f32' ? Math.max(a.bits!, b.bits!) : undefined;
  return s.value(s.add('where', [cond, a, b]), Math.max(a.mag, b.mag), bits);
};

const cast: Build = (s, r) => {
  const x = s.pick(r.a);
  if (!x) return undefined;
  if (x.dtype === 'i32') {
    if (r.flag) return s.value(s.add('cast', [x], { dtype: 'i32' }), x.mag);
    return s.tame(s.value(s.add('cast', [x], { dtype: 'f32' }), x.mag, x.mag < 2 ** 24 ? 0 : undefined));
  }
  // float -> int only from exact values: float32 and float64 must truncate the same number
  if (!r.flag && isExact(x)) return s.value(s.add('cast', [x], { dtype: 'i32' }), x.mag);
  return s.value(s.add('cast', [x], { dtype: 'f32' }), x.mag, x.bits);
};

const matmul: Build = (s, r) => {
  let a = s.pick(r.a, (v) => v.dtype === 'f32' && v.shape.length >= 2);
  if (!a) return undefined;
  const k = a.shape[a.shape.length - 1]!;
  const transposeB = r.flag;
  const mode = r.c % 3;
  let b: Value | undefined;
  if (mode === 1) {
    b = s.pick(r.b, (v) => {
      if (v.dtype !== 'f32' || v.shape.length < 2) return false;
      const vk = transposeB ? v.shape[v.shape.length - 1] : v.shape[v.shape.length - 2];
      return vk === k && broadcasts(v.shape.slice(0, -2), a!.shape.slice(0, -2));
    });
  }
  if (!b && mode !== 2 && typeof k === 'number') {
    const n = STATIC_DIMS[r.x % STATIC_DIMS.length]!;
    b = s.param(transposeB ? [n, k] : [k, n]);
  }
  if (!b) {
    const t = s.tame(a, 4);
    return s.value(s.add('matmul', [t, t], { transposeB: true }), bound(k) * t.mag * t.mag); // a a^T: always fits
  }
  if (bound(k) * a.mag * b.mag > MAG_LIMIT) a = s.tame(a, 1);
  if (bound(k) * a.mag * b.mag > MAG_LIMIT) b = s.tame(b, 1);
  return s.value(s.add('matmul', [a, b], { transposeB }), bound(k) * a.mag * b.mag);
};

const reduce: Build = (s, r) => {
  const kind = (['sum', 'mean', 'max'] as const)[r.c % 3]!;
  const x = s.pick(r.a, (v) => v.shape.length >= 1 && (kind === 'max' || v.dtype === 'f32'));
  if (!x) return undefined;
  const rank = x.shape.length;
  let axes = [...Array(rank).keys()].filter((i) => (r.x >> i) & 1);
  if (axes.length === 0) axes = [r.b % rank];
  const signed = axes.map((a) => (r.flag && a % 2 === 0 ? a - rank : a)); // negative axes too
  const count = axes.reduce((p, a) => p * bound(x.shape[a]!), 1);
  const ref = s.add(`reduce_${kind}`, [x], { axes: signed, keepDims: r.b % 2 === 0 });
  if (kind === 'max') return s.value(ref, x.mag, x.bits);
  if (kind === 'mean') return s.value(ref, x.mag);
  return s.tame(s.value(ref, count * x.mag, x.bits));
};

const softmax: Build = (s, r) => {
  const x = s.pick(r.a, (v) => v.dtype === 'f32' && v.shape.length >= 1);
  if (!x) return undefined;
  const rank = x.shape.length;
  const axis = (r.b % rank) - (r.flag ? rank : 0);
  return s.value(s.add('softmax', [s.tame(x)], { axis }), 1);
};

const layerNorm: Build = (s, r) => {
  const x = s.pick(r.a, (v) => v.dtype === 'f32' && v.shape.length >= 1 && typeof v.shape[v.shape.length - 1] === 'number');
  if (!x) return undefined;
  const d = x.shape[x.shape.length - 1] as number;
  const eps = [1e-5, 1e-3, 0.1][r.c % 3]!;
  return s.value(s.add('layer_norm', [s.tame(x), s.param([d]), s.param([d])], { eps }), Math.sqrt(d) + 1);
};

const gather: Build = (s, r) => {
  let table = r.flag ? s.pick(r.a, (v) => v.dtype === 'f32' && v.shape.length >= 1 && typeof v.shape[0] === 'number' && v.shape[0] > 0) : undefined;
  table ??= s.param([STATIC_DIMS[r.x % STATIC_DIMS.length]!, STATIC_DIMS[r.c % STATIC_DIMS.length]!]);
  const shape = [(['batch', 'seq', 1, 2, 3] as const)[r.b % 5]!, (['seq', 2, 5] as const)[r.c % 3]!].slice(r.x % 2);
  const ids = s.indexInput(shape, table.shape[0] as number);
  return s.value(s.add('gather', [table, ids]), table.mag, table.bits);
};

const reshape: Build = (s, r) => {
  const x = s.pick(r.a);
  if (!x) return undefined;
  const shape: (Dim | -1)[] = [...x.shape];
  const rank = shape.length;
  const at = r.b % Math.max(rank, 1);
  switch (r.x % 5) {
    case 0: // merge two adjacent axes
      if (rank < 2) return undefined;
      shape.splice(Math.min(at, rank - 2), 2, mergedDim(shape[Math.min(at, rank - 2)]!, shape[Math.min(at, rank - 2) + 1]!));
      break;
    case 1: // a new axis of size 1
      shape.splice(r.b % (rank + 1), 0, 1);
      break;
    case 2: // drop an axis of size 1, if there is one
      if (!shape.includes(1)) return undefined;
      shape.splice(shape.indexOf(1), 1);
      break;
    case 3: // flatten
      shape.splice(0, rank, -1);
      break;
    case 4: // the same shape (with or without a -1)
      break;
  }
  if (r.flag && shape.length > 0 && !shape.includes(-1)) shape[r.c % shape.length] = -1;
  const once = s.value(s.add('reshape', [x], { shape }), x.mag, x.bits);
  // sometimes a chain: back to the original shape, or flattened
  if (r.c % 4 === 1) return s.value(s.add('reshape', [once], { shape: [...x.shape] }), x.mag, x.bits);
  if (r.c % 4 === 2) return s.value(s.add('reshape', [once], { shape: [-1] }), x.mag, x.bits);
  return once;
};

function mergedDim(a: Dim | -1, b: Dim | -1): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  return [a, b].filter((d) => d !== 1).join('*') || 1;
}

const transpose: Build = (s, r) => {
  const x = s.pick(r.a, (v) => v.shape.length >= 1);
  if (!x) return undefined;
  const once = s.value(s.add('transpose', [x], { perm: permutation(x.shape.length, r.x) }), x.mag, x.bits);
  // sometimes a chain of two (which may cancel out)
  return r.flag ? s.value(s.add('transpose', [once], { perm: permutation(x.shape.length, r.c) }), x.mag, x.bits) : once;
};

/** The k-th permutation of 0..n-1 (Lehmer code), so k = 0 is the identity. */
function permutation(n: number, k: number): number[] {
  const rest = [...Array(n).keys()];
  const out: number[] = [];
  for (let i = n; i >= 1; i--) {
    out.push(rest.splice(k % i, 1)[0]!);
    k = Math.floor(k / i);
  }
  return out;
}

const slice: Build = (s, r) => {
  const x = s.pick(r.a, (v) => v.shape.length >= 1);
  if (!x) return undefined;
  const axis = r.b % x.shape.length;
  const d = x.shape[axis]!;
  const signedAxis = r.flag ? axis - x.shape.length : axis;
  if (typeof d !== 'number') {
    // a symbolic axis (every symbol is at least 1 in a run): whole, its last position, or its first
    const bounds = [{}, { start: -1, end: null }, { start: 0, end: 1 }][r.c % 3]!;
    return s.value(s.add('slice', [x], { axis: signedAxis, ...bounds }), x.mag, x.bits);
  }
  const start = (r.x % (2 * d + 1)) - d;
  const end = r.c % (2 * d + 2) === 0 ? null : (r.c % (2 * d + 2)) - d - 1;
  const step = 1 + ((r.x >> 5) % 2);
  const lo = Math.min(Math.max(start < 0 ? start + d : start, 0), d);
  const hi = end === null ? d : Math.min(Math.max(end < 0 ? end + d : end, 0), d);
  if (hi <= lo) return s.value(s.add('slice', [x], { axis: signedAxis, start: 0, end: null, step }), x.mag, x.bits);
  return s.value(s.add('slice', [x], { axis: signedAxis, start, end, step }), x.mag, x.bits);
};

const concat: Build = (s, r) => {
  const x = s.pick(r.a, (v) => v.shape.some((d) => typeof d === 'number'));
  if (!x) return undefined;
  const staticAxes = x.shape.map((d, i) => (typeof d === 'number' ? i : -1)).filter((i) => i >= 0);
  const axis = staticAxes[r.b % staticAxes.length]!;
  const fits = (v: Value) => v.dtype === x.dtype && v.shape.length === x.shape.length && v.shape.every((d, i) => i === axis || d === x.shape[i]);
  const parts = [x];
  for (let k = 0; k < r.c % 3; k++) parts.push(s.pick(r.x + k, fits) ?? x);
  const bits = parts.every(isExact) && x.dtype === 'f32' ? Math.max(...parts.map((p) => p.bits!)) : undefined;
  return s.value(s.add('concat', parts, { axis: r.flag ? axis - x.shape.length : axis }), Math.max(...parts.map((p) => p.mag)), bits);
};

const range: Build = (s, r) => {
  const size = ([2, 'seq', 5, 'batch', 1, 7] as const)[r.a % 6]!;
  const start = (r.b % 5) - 2;
  const step = (r.c % 3) + (r.flag ? 0.5 : 0);
  const dtype: DType = r.flag ? 'f32' : 'i32';
  const mag = Math.abs(start) + bound(size) * step;
  return s.value(s.add('range', [], { size, start, step: dtype === 'i32' ? Math.round(step) : step, dtype }), mag, dtype === 'f32' ? 1 : undefined);
};

/**
 * Scaled dot-product attention spelled out in primitives (what fuse-attention looks for), with or
 * without the scale (either side of the mul), with a mask of some broadcastable shape or none, and
 * sometimes an intermediate kept in the pool (a second reader, which must block the fusion).
 */
const sdpa: Build = (s, r) => {
  const q = s.pick(r.a, (v) => v.dtype === 'f32' && v.shape.length >= 2);
  if (!q) return undefined;
  const lead = q.shape.slice(0, -2);
  const dh = q.shape[q.shape.length - 1]!;
  const k = s.pick(r.b, (v) => v.dtype === 'f32' && v.shape.length === q.shape.length && v.shape[v.shape.length - 1] === dh && lead.every((d, i) => v.shape[i] === d)) ?? q;
  const tk = k.shape[k.shape.length - 2]!;
  const v = s.pick(r.c, (w) => w.dtype === 'f32' && w.shape.length === q.shape.length && w.shape[w.shape.length - 2] === tk && lead.every((d, i) => w.shape[i] === d)) ?? k;
  const [tq, kt, vt] = [s.tame(q, 4), s.tame(k, 4), s.tame(v)];
  let scores = s.value(s.add('matmul', [tq, kt], { transposeB: true }), bound(dh) * tq.mag * kt.mag);
  // intermediates that may escape into the pool (not causally masked scores: -1e30 stays in attention)
  const keep: Value[] = [scores];
  switch (r.x % 3) {
    case 1:
      scores = s.value(s.add('mul', [scores, s.constant(0.5)]), scores.mag / 2);
      break;
    case 2:
      scores = s.value(s.add('mul', [s.constant(0.25), scores]), scores.mag / 4);
      break;
  }
  keep.push(scores);
  const scoreShape = scores.shape;
  switch ((r.x >> 2) % 3) {
    case 1: {
      const mask = s.param(broadcastableShape(scoreShape, r.x >> 4, r.x >> 6), 2);
      scores = s.value(s.add('add', r.flag ? [mask, scores] : [scores, mask]), scores.mag + 2);
      keep.push(scores);
      break;
    }
    case 2: {
      // causal: key j > query i is masked; needs a static or symbolic square score matrix
      const [rows, cols] = scoreShape.slice(-2);
      if (rows !== cols) break;
      const i = s.add('reshape', [s.add('range', [], { size: rows })], { shape: [rows, 1] });
      const j = s.add('reshape', [s.add('range', [], { size: cols })], { shape: [1, cols] });
      const mask = s.add('where', [s.add('greater', [j, i]), s.constant(-1e30).ref, s.constant(0).ref]);
      scores = s.value(s.add('add', [scores.ref, mask]), scores.mag);
      break;
    }
  }
  const probs = s.value(s.add('softmax', [scores], { axis: r.flag ? -1 : scoreShape.length - 1 }), 1);
  keep.push(probs);
  const out = s.value(s.add('matmul', [probs, vt]), vt.mag);
  // sometimes an intermediate escapes into the pool: a later op may read it (a second reader)
  if ((r.x >> 8) % 2 === 1) s.pool.push(keep[(r.x >> 4) % keep.length]!);
  return out;
};

/** A value [..., D] with static D (the composites' feature axis). */
function features(s: CaseBuilder, k: number, filter: (d: number) => boolean = () => true): Value | undefined {
  return s.pick(k, (v) => {
    const d = v.shape[v.shape.length - 1];
    return v.dtype === 'f32' && v.shape.length >= 1 && typeof d === 'number' && d > 0 && filter(d);
  });
}

const linear: Build = (s, r) => {
  const x = features(s, r.a);
  if (!x) return undefined;
  const d = x.shape[x.shape.length - 1] as number;
  const n = STATIC_DIMS[r.x % STATIC_DIMS.length]!;
  const tx = s.tame(x, 4);
  const inputs = r.flag ? [tx, s.param([d, n])] : [tx, s.param([d, n]), s.param([n])];
  return s.value(s.add('linear', inputs), d * tx.mag + 1);
};

const embed: Build = (s, r) => {
  const vocab = STATIC_DIMS[r.x % STATIC_DIMS.length]!;
  const table = s.param([vocab, STATIC_DIMS[r.b % STATIC_DIMS.length]!]);
  const ids = s.indexInput((['batch', 'seq'] as Dim[]).slice(r.c % 2), vocab);
  const scale = [1, 2, 0.5][r.a % 3]!;
  return s.value(s.add('embed', [ids, table], { scale }), scale, 4);
};

const posenc: Build = (s, r) => {
  const x = s.pick(r.a, (v) => v.dtype === 'f32' && v.shape.length >= 2 && typeof v.shape[v.shape.length - 1] === 'number');
  if (!x) return undefined;
  const d = x.shape[x.shape.length - 1] as number;
  const t = x.shape[x.shape.length - 2]!;
  const tx = s.tame(x);
  if (r.flag && d % 2 === 0) {
    const positions = r.c % 2 === 0 ? [] : [s.indexInput([t], 8)];
    return s.value(s.add('sinusoidal_posenc', [tx, ...positions]), tx.mag + 1);
  }
  const rows = bound(t) + 1;
  const positions = r.c % 2 === 0 ? [] : [s.indexInput([t], rows)];
  return s.value(s.add('learned_posenc', [tx, s.param([rows, d]), ...positions]), tx.mag + 1);
};

/** The attention composite on [B, T, D] values, with a causal or padding mask or none. */
const attention: Build = (s, r) => {
  const q = s.pick(r.a, (v) => v.dtype === 'f32' && v.shape.length === 3 && typeof v.shape[2] === 'number' && v.shape[2] > 0);
  if (!q) return undefined;
  const [batch, tq, d] = q.shape as [Dim, Dim, number];
  const heads = [...Array(d).keys()].map((i) => i + 1).filter((h) => d % h === 0);
  const h = heads[r.x % heads.length]!;
  const kv = s.pick(r.b, (v) => v.dtype === 'f32' && v.shape.length === 3 && v.shape[0] === batch && v.shape[2] === d) ?? q;
  const tk = kv.shape[1]!;
  const [tq2, tkvFull] = [s.tame(q, 4), s.tame(kv, 4)];
  // grouped-query: kv heads dividing the query heads, the kv width cut to kvHeads * Dh
  const kvChoices = [...Array(h).keys()].map((i) => i + 1).filter((g) => h % g === 0);
  const kvHeads = r.flag ? kvChoices[r.b % kvChoices.length]! : h;
  const tkv = kvHeads === h ? tkvFull : s.value(s.add('slice', [tkvFull], { axis: 2, start: 0, end: kvHeads * (d / h) }), tkvFull.mag);
  const inputs = [tq2, tkv, tkv];
  const maskMode = r.c % 3;
  if (maskMode === 1 && tq === tk) inputs.push(s.value(s.add('causal_mask', [q]), 1e30));
  if (maskMode === 2) {
    // every row keeps its first key: a fully masked row is uniform whatever its scores, which float64
    // computes exactly (s + MASKED rounds to MASKED) while the analytic gradient is softmax's, not zero
    const keep = s.indexInput([batch, tk], 3, undefined, true);
    inputs.push(s.value(s.add('padding_mask', [keep], { padId: r.flag ? 0 : null }), 1e30));
  }
  const scale = r.x % 4 === 0 ? 0.5 : null;
  // the extras fused into the attention kernels: causal and window masks from positions, ALiBi, soft-capping
  const extras = [
    {},
    { causal: true },
    { causal: true, window: 1 + (r.c % 3) },
    { causal: true, alibi: Array.from({ length: h }, (_, i) => 2 ** -(i + 1)) },
    { softcap: 1.5, causal: r.flag },
  ][(r.x >> 2) % 5]!;
  return s.value(s.add('attention', inputs, { heads: h, kvHeads, scale, ...extras }), tkv.mag);
};

/** A value of x's shape (f32) for a residual sum: x + that. */
const residualFor = (s: CaseBuilder, k: number, x: Value): Value | undefined => s.pick(k, (v) => v.dtype === 'f32' && shapeEquals(v.shape, x.shape));

const addNorm: Build = (s, r) => {
  const x = features(s, r.a);
  if (!x) return undefined;
  const d = x.shape[x.shape.length - 1] as number;
  const residual = residualFor(s, r.b, x) ?? x;
  return s.value(s.add('add_norm', [s.tame(x), s.tame(residual), s.param([d]), s.param([d])], { eps: 1e-5 }), Math.sqrt(d) + 1);
};

const ffn: Build = (s, r) => {
  const x = features(s, r.a);
  if (!x) return undefined;
  const d = x.shape[x.shape.length - 1] as number;
  const f = STATIC_DIMS[r.x % STATIC_DIMS.length]!;
  const tx = s.tame(x, 4);
  const activation = (['relu', 'gelu', 'gelu_tanh', 'silu'] as const)[r.c % 4]!;
  const ref = s.add('ffn', [tx, s.param([d, f]), s.param([f]), s.param([f, d]), s.param([d])], { activation });
  return s.value(ref, f * (d * tx.mag + 1) + 1);
};

const rmsNorm: Build = (s, r) => {
  const x = features(s, r.a);
  if (!x) return undefined;
  const d = x.shape[x.shape.length - 1] as number;
  const eps = [1e-5, 1e-3, 0.1][r.c % 3]!;
  const weightOffset = r.flag ? 1 : 0;
  // a third of the time the norm of a residual sum read by nothing else (fused_add_rms_norm)
  const y = r.b % 3 === 0 ? residualFor(s, r.x, x) : undefined;
  const [tx, ty] = [s.tame(x), y && s.tame(y)];
  const normed = ty ? s.value(s.add('add', [tx, ty]), tx.mag + ty.mag) : tx;
  return s.value(s.add('rms_norm', [normed, s.param([d])], { eps, weightOffset }), Math.sqrt(d) * (2 + weightOffset));
};

/**
 * rope on a [B?, T?, W] value viewed as [., ., W / Dh, Dh], at offsets 0 or from an input. Half the
 * time the value is a fresh projection (linear, with or without a bias), as q and k are in rotary
 * models: the shape fuse-rope-into-projection rewrites.
 */
const rope: Build = (s, r) => {
  let x: Value | undefined;
  if ((r.b >> 2) % 2 === 1) {
    const f = features(s, r.a, (d) => d <= 8);
    if (!f || f.shape.length !== 3) return undefined;
    const d = f.shape[2] as number;
    const w = [4, 8, 12][r.c % 3]!;
    const tf = s.tame(f, 1);
    const inputs = r.flag ? [tf, s.param([d, w])] : [tf, s.param([d, w]), s.param([w])];
    x = s.value(s.add('linear', inputs), d * tf.mag + 1);
  } else {
    const picked = s.pick(r.a, (v) => v.dtype === 'f32' && v.shape.length === 3 && typeof v.shape[2] === 'number' && v.shape[2] % 2 === 0);
    if (!picked) return undefined;
    x = s.tame(picked, 4);
  }
  const [b, t, w] = x.shape as [Dim, Dim, number];
  const dh = w % 4 === 0 && r.c % 2 === 0 ? 4 : 2;
  const heads = s.value(s.add('reshape', [x], { shape: [b, t, w / dh, dh] }), x.mag);
  const inputs = [heads];
  if (r.x % 3 !== 0) inputs.push(s.indexInput([r.x % 3 === 1 ? 1 : b], 40));
  const attrs = { theta: [10000, 500000, 100][r.b % 3]!, style: r.flag ? 'interleaved' : 'halves', fraction: dh === 4 && r.c % 4 === 0 ? 0.5 : 1 };
  const rotated = s.value(s.add('rope', inputs, attrs), x.mag * Math.SQRT2);
  return s.value(s.add('reshape', [rotated], { shape: [b, t, w] }), rotated.mag);
};

const gluFfn: Build = (s, r) => {
  const x = features(s, r.a);
  if (!x) return undefined;
  const d = x.shape[x.shape.length - 1] as number;
  const f = STATIC_DIMS[r.x % STATIC_DIMS.length]!;
  const activation = (['silu', 'gelu', 'gelu_tanh'] as const)[r.c % 3]!;
  const ref = s.add('glu_ffn', [s.tame(x, 1), s.param([d, f]), s.param([d, f]), s.param([f, d])], { activation });
  return s.value(ref, f * 2 * (2 * d + 1) ** 2 + 1);
};

/**
 * gather's gradient: a value's rows added into a table of few rows (repeated indices are the rule) at
 * in-range indices over its first one or two axes. Sums of exact values stay exact (bits kept).
 */
const scatterAdd: Build = (s, r) => {
  const updates = s.pick(r.a, (v) => v.dtype === 'f32' && v.shape.length >= 1);
  if (!updates) return undefined;
  const lead = updates.shape.slice(0, 1 + (r.b % Math.min(2, updates.shape.length)));
  // a symbolic table (as many rows as the sequence is long) gets index 0 only
  const rows = ([1, 2, 3, 5, 7, 'seq'] as const)[r.x % 6]!;
  const indices = s.indexInput(lead, typeof rows === 'number' ? rows : 1);
  const u = s.tame(updates);
  const positions = lead.reduce((p: number, d) => p * bound(d), 1);
  return s.tame(s.value(s.add('scatter_add', [indices, u], { rows }), positions * u.mag, u.bits));
};

/**
 * Cross-entropy of a value's last (static) axis as logits against in-range labels, a quarter of
 * them the ignore index (PyTorch's -100, or a valid class) when there is one, with label smoothing.
 */
const softmaxCrossEntropy: Build = (s, r) => {
  const logits = features(s, r.a);
  if (!logits) return undefined;
  const classes = logits.shape[logits.shape.length - 1] as number;
  const ignoreIndex = [-100, null, classes - 1][r.c % 3] ?? null;
  const labelSmoothing = [0, 0.1, 0.25][r.x % 3]!;
  const labels = s.indexInput(logits.shape.slice(0, -1), classes, ignoreIndex ?? undefined);
  const x = s.tame(logits);
  return s.value(s.add('softmax_cross_entropy', [x, labels], { ignoreIndex, labelSmoothing }), Math.log(classes) + 2 * x.mag);
};

/** Dropout of any f32 value with an i32 seed input ([] or [1]), p in {0, 0.25, 0.5}, one of four streams. */
const dropout: Build = (s, r) => {
  const x = s.pick(r.a, (v) => v.dtype === 'f32');
  if (!x) return undefined;
  const p = [0, 0.25, 0.5][r.c % 3]!;
  const seed = s.indexInput(r.flag ? [1] : [], 1000);
  // scaling by 1 or 2 keeps a value exact; by 4/3 it does not
  return s.value(s.add('dropout', [x, seed], { p, stream: r.x % 4 }), x.mag / (1 - p), p === 0.25 ? undefined : x.bits);
};

/** and/or of two i32 masks (or a mask and 0/1), or not of one: i32 values are exact everywhere. */
const logical: Build = (s, r) => {
  // a mask of the pool, or one made from an exact value (i32 values are rarer than masks are used)
  const exact = s.pick(r.a, (v) => v.dtype === 'f32' && isExact(v));
  const a = r.c % 2 === 0 ? s.pick(r.a, (v) => v.dtype === 'i32') : exact && s.value(s.add('greater', [exact, s.constant(0)]), 1);
  if (!a) return undefined;
  if (r.x % 3 === 2) return s.value(s.add('logical_not', [a]), 1);
  let b = s.pick(r.b, (v) => v.dtype === 'i32' && broadcasts(v.shape, a.shape) && v.ref !== a.ref);
  if (!b || r.c % 3 === 0) b = s.constant(r.c % 2, [], 'i32');
  const [x, y] = r.flag ? [b, a] : [a, b];
  return s.value(s.add(r.x % 3 === 0 ? 'logical_and' : 'logical_or', [x, y]), 1);
};

/**
 * top_k's values or indices along a static last axis. Only exact values are ranked (float32 and
 * float64 must order them alike); multiples of 1/8 tie often, which exercises the lower-index rule.
 */
const topK: Build = (s, r) => {
  const x = s.pick(r.a, (v) => v.dtype === 'f32' && isExact(v) && v.shape.length >= 1 && typeof v.shape[v.shape.length - 1] === 'number' && (v.shape[v.shape.length - 1] as number) >= 1);
  if (!x) return undefined;
  const n = x.shape[x.shape.length - 1] as number;
  const k = 1 + (r.b % n);
  if (r.flag) return s.value(s.add('top_k', [x], { k, output: 'indices' }), n);
  return s.value(s.add('top_k', [x], { k, output: 'values' }), x.mag, x.bits);
};

/**
 * expert_matmul of a value's rows (a row axis of 1 shared by every id, or one row per id) with a new
 * stacked weight of a few experts; the ids come from an input whose feed stays inside the experts.
 */
const expertMatmul: Build = (s, r) => {
  const x = s.pick(r.a, (v) => v.dtype === 'f32' && v.shape.length >= 2 && typeof v.shape[v.shape.length - 1] === 'number' && (v.shape[v.shape.length - 1] as number) > 0);
  if (!x) return undefined;
  const k = x.shape[x.shape.length - 1] as number;
  const rows = x.shape[x.shape.length - 2]!;
  const experts = STATIC_DIMS[r.x % STATIC_DIMS.length]!;
  const n = STATIC_DIMS[r.c % STATIC_DIMS.length]!;
  const j = rows === 1 ? [1, 2, 3][r.b % 3]! : rows;
  const ids = s.indexInput([...x.shape.slice(0, -2), j], experts);
  const arg = s.tame(x, 4);
  const w = s.param(r.flag ? [experts, n, k] : [experts, k, n]);
  const sum = (r.b >> 2) % 2 === 1;
  return s.value(s.add('expert_matmul', [arg, w, ids], { transposeB: r.flag, sum }), arg.mag * w.mag * k * (sum ? 3 : 1));
};

/**
 * A product with a quantized weight, as quantized_matmul or as a matmul of the dequantized matrix
 * (plain or transposed): code words from an i32 input whose feed stays inside 24 bits (every word is
 * valid codes), a scale per group (k/8 values), zero points or the middle code; 8 or 4 bits, groups
 * of 1, 2, 3 or the whole K (which need not be a multiple of the group).
 */
const quantizedMatmulRecipe: Build = (s, r) => {
  const x = s.pick(r.a, (v) => v.dtype === 'f32' && v.shape.length >= 2 && typeof v.shape[v.shape.length - 1] === 'number' && (v.shape[v.shape.length - 1] as number) > 0);
  if (!x) return undefined;
  const k = x.shape[x.shape.length - 1] as number;
  const bits = r.flag ? 8 : 4;
  const group = [1, 2, 3, k][r.b % 4]!; // the widths here are small: several groups a column
  const n = STATIC_DIMS[r.c % STATIC_DIMS.length]!;
  const codes = s.indexInput([n, Math.ceil(k / (bits === 8 ? 3 : 6))], 2 ** 24);
  // scales of k/1024 (exact): weights within about +-2, as a model's are, whatever the codes
  const scales = s.value(s.add('mul', [s.param([n, Math.ceil(k / group)]), s.constant(2 ** -7)]), 2 ** -7, 10);
  const zeroPoints = r.x % 2 === 1 ? [s.param([n, Math.ceil(k / group)])] : [];
  const arg = s.tame(x, 4);
  const mag = (arg.mag * (2 ** bits + 1) * k) / 128;
  const attrs = { bits, group, zeroPoints: zeroPoints.length > 0 };
  if ((r.b >> 3) % 2 === 0) return s.value(s.add('quantized_matmul', [arg, codes, scales, ...zeroPoints], attrs), mag);
  const transposeB = (r.c >> 2) % 2 === 1;
  const w = s.add('dequantize', [codes, scales, ...zeroPoints], { ...attrs, k, transpose: transposeB });
  return s.value(s.add('matmul', [arg.ref, w], { transposeB }), mag);
};

/**
 * Activations rounded to int8: quantize_activations alone, or a quantized_matmul of int8 activations
 * (groups of 1, 3, 4, 8 or all K; of a value's rows or of one row). Forward only: rounding has no
 * gradient rule (FORWARD_ONLY_KINDS).
 */
const int8ActivationsRecipe: Build = (s, r) => {
  const x = s.pick(r.a, (v) => v.dtype === 'f32' && v.shape.length >= 2 && typeof v.shape[v.shape.length - 1] === 'number' && (v.shape[v.shape.length - 1] as number) > 0);
  if (!x) return undefined;
  const k = x.shape[x.shape.length - 1] as number;
  const group = [1, 3, 4, 8, k][r.b % 5]!;
  const tamed = s.tame(x, 4);
  if (r.flag) return s.value(s.add('quantize_activations', [tamed], { group }), tamed.mag);
  // half the time one row (a decoding step's product): the rows flattened, the first kept
  const rows = s.value(s.add('reshape', [tamed], { shape: [-1, k] }), tamed.mag, tamed.bits);
  const arg = (r.b >> 3) % 2 === 1 ? s.value(s.add('slice', [rows], { axis: 0, start: 0, end: 1, step: 1 }), tamed.mag, tamed.bits) : tamed;
  const bits = r.c % 2 === 0 ? 8 : 4;
  const n = STATIC_DIMS[r.x % STATIC_DIMS.length]!;
  const codes = s.indexInput([n, Math.ceil(k / (bits === 8 ? 3 : 6))], 2 ** 24);
  const scales = s.value(s.add('mul', [s.param([n, Math.ceil(k / group)]), s.constant(2 ** -7)]), 2 ** -7, 10);
  return s.value(s.add('quantized_matmul', [arg, codes, scales], { bits, group, activations: 'int8' }), (arg.mag * (2 ** bits + 1) * k) / 128);
};

/**
 * A mixture of k of E experts over an exact value (the router's logits of dyadic values are exact
 * in float32 and float64 alike, so both pick the same experts; equal logits tie to the lower expert).
 */
const moeFfnRecipe: Build = (s, r) => {
  const x = s.pick(r.a, (v) => v.dtype === 'f32' && isExact(v) && v.mag <= 4 && v.shape.length >= 1 && typeof v.shape[v.shape.length - 1] === 'number' && (v.shape[v.shape.length - 1] as number) > 0);
  if (!x) return undefined;
  const d = x.shape[x.shape.length - 1] as number;
  const experts = [2, 3, 5][r.x % 3]!;
  const k = 1 + (r.b % experts);
  const f = STATIC_DIMS[r.c % STATIC_DIMS.length]!;
  const router = s.param([d, experts]);
  const weights = [s.param([experts, d, f]), s.param([experts, d, f]), s.param([experts, f, d])];
  const activation = (['silu', 'gelu', 'gelu_tanh'] as const)[(r.x >> 2) % 3]!;
  return s.value(s.add('moe_ffn', [x, router, ...weights], { k, activation, renormalize: !r.flag }), x.mag * d * f * 4);
};

const BUILDERS: Record<RecipeKind, Build> = {
  unary,
  binary,
  constant,
  compare,
  where,
  cast,
  matmul,
  reduce,
  softmax,
  layer_norm: layerNorm,
  gather,
  reshape,
  transpose,
  slice,
  concat,
  range,
  sdpa,
  linear,
  embed,
  posenc,
  attention,
  add_norm: addNorm,
  ffn,
  rms_norm: rmsNorm,
  rope,
  glu_ffn: gluFfn,
  scatter_add: scatterAdd,
  softmax_cross_entropy: softmaxCrossEntropy,
  dropout,
  logical,
  top_k: topK,
  expert_matmul: expertMatmul,
  moe_ffn: moeFfnRecipe,
  quantized_matmul: quantizedMatmulRecipe,
  int8_activations: int8ActivationsRecipe,
};

/** Builds the graph a spec describes, and feeds and weights for it from the spec's seed. */
export function buildGraphCase(spec: GraphSpec): GraphCase {
  const s = new CaseBuilder(spec);
  s.pool.push(s.value(s.b.add('input', [], { name: 'x', dtype: 'f32', shape: ['batch', 'seq', spec.width] }, 'arbitrary'), 2, 3));
  spec.extraInputs.forEach((shape, i) => {
    s.pool.push(s.value(s.b.add('input', [], { name: `x${i + 1}`, dtype: 'f32', shape: [...shape] }, 'arbitrary'), 2, 3));
  });
  for (const recipe of spec.recipes) {
    let v: Value | undefined;
    try {
      v = BUILDERS[recipe.kind](s, recipe);
    } catch (e) {
      // a recipe whose adapted operands still do not fit (the type rule said no): fall back
      if (!(e instanceof Error && e.name === 'GraphTypeError')) throw e;
    }
    s.pool.push(v ?? s.value(s.add('neg', [s.pool[recipe.a % s.pool.length]!]), s.pool[recipe.a % s.pool.length]!.mag));
  }
  // outputs: the values nothing reads (so little of the graph is dead), newest first, and the picks
  // (which may give an intermediate a second reader, or make an input an output)
  const read = new Set(Array.from({ length: s.b.size }, (_, id) => s.b.node(id).inputs).flat());
  const sinks = s.pool.filter((v) => !read.has(v.ref) && s.b.node(v.ref).op !== 'input').reverse().slice(0, MAX_SINK_OUTPUTS);
  const picks = spec.outputs.map((k) => s.pool[s.pool.length - 1 - (k % s.pool.length)]!);
  const outputs: Record<string, NodeRef> = {};
  const chosen = new Set<NodeRef>();
  for (const v of [...sinks, ...picks]) {
    if (!chosen.has(v.ref)) outputs[`out${chosen.size}`] = v.ref;
    chosen.add(v.ref);
  }
  const graph = s.b.build(outputs);
  return withData(graph, spec, s.indexFeeds);
}

// ---------------------------------------------------------------------------------------------------
// data

const random = mulberry32;

function indexValue(feed: IndexFeed, rand: () => number): number {
  if (feed.ignore !== undefined && rand() < 0.25) return feed.ignore;
  return Math.floor(rand() * feed.limit);
}

function withData(graph: Graph, spec: GraphSpec, indexFeeds: readonly IndexFeed[]): GraphCase {
  const bindings = { batch: spec.bindings.batch, seq: spec.bindings.seq };
  const bound = new Map(Object.entries(bindings));
  const rand = random(spec.seed);
  const feeds: Record<string, NDArray> = {};
  const weights = new Map<string, NDArray>();
  for (const node of graph.nodes) {
    if (node.op !== 'input' && node.op !== 'param') continue;
    const name = node.attrs['name'] as string;
    const shape = resolveShape(node.type.shape, bound);
    const n = shape.reduce((p, d) => p * d, 1);
    const index = indexFeeds.find((f) => f.name === name);
    const data = Array.from({ length: n }, () =>
      index ? indexValue(index, rand) : node.op === 'input' ? Math.round(rand() * 32 - 16) / 8 : Math.round(rand() * 16 - 8) / 8,
    );
    const last = shape[shape.length - 1] ?? 1;
    if (index?.keepFirst) for (let i = 0; i < n; i += last) data[i] = Math.max(1, data[i]!);
    const value = ndarray(node.type.dtype, shape, data, 'f64');
    if (node.op === 'input') feeds[name] = value;
    else weights.set(name, value);
  }
  const c: GraphCase = { graph, feeds, weights, bindings, spec };
  return Object.assign(c, { [fc.toStringMethod]: () => describeCase(c) });
}

/** The graph as text with the symbol values: what a failing property prints. */
export function describeCase(c: GraphCase): string {
  return `\n${printGraph(c.graph)}\n  with ${Object.entries(c.bindings).map(([k, v]) => `${k}=${v}`).join(', ')}, seed ${c.spec.seed}\n`;
}

// ---------------------------------------------------------------------------------------------------
// comparing results

/**
 * Relative float32 error allowed per primitive op (a few ulps for elementwise math, more where an op
 * sums many terms). A graph's budget is the sum over its primitive nodes.
 */
export const F32_OP_TOLERANCE: Readonly<Record<string, number>> = {
  matmul: 1e-5,
  reduce_sum: 1e-5,
  reduce_mean: 1e-5,
  softmax: 1e-5,
  layer_norm: 1e-4,
  rms_norm: 1e-4,
  // a product, a cosine and a sine, two products and a sum per element, like its decomposition
  rope: 1e-5,
  // sums of the rows at one index, as reduce_sum
  scatter_add: 1e-5,
  // a softmax's sums, a log and a weighted sum of logits per row
  softmax_cross_entropy: 1e-5,
  // a value a float32 ulp from a half may round to the other integer: one step, 1/127 of the group's largest
  quantize_activations: 1 / 127,
};
const F32_ELEMENTWISE_TOLERANCE = 1e-6;
/** Ops that move values without arithmetic. */
const EXACT_OPS: ReadonlySet<string> = new Set(['input', 'param', 'constant', 'range', 'reshape', 'transpose', 'slice', 'concat', 'gather', 'cast', 'neg', 'abs', 'relu', 'maximum', 'minimum', 'reduce_max', 'where', 'equal', 'not_equal', 'less', 'less_equal', 'greater', 'greater_equal']);

/** The float32 budget of a graph: the sum of its primitive ops' tolerances. */
export function f32Budget(graph: Graph): number {
  let total = 0;
  for (const node of expandOps(graph).nodes) total += EXACT_OPS.has(node.op) ? 0 : (F32_OP_TOLERANCE[node.op] ?? F32_ELEMENTWISE_TOLERANCE);
  return total;
}

/**
 * The first element where `actual` is farther from `expected` than allowed, as a message, or
 * undefined. Allowed: rtol * (|expected| + 1), plus `slack[i]` (e.g. how far an unoptimized float32
 * run already is from the oracle: ill-conditioning the graph has anyway).
 */
export function firstMismatch(actual: NDArray, expected: NDArray, rtol: number, slack?: ArrayLike<number>): string | undefined {
  if (actual.dtype !== expected.dtype || actual.shape.join() !== expected.shape.join()) {
    return `type ${actual.dtype}[${actual.shape}] differs from ${expected.dtype}[${expected.shape}]`;
  }
  for (let i = 0; i < expected.data.length; i++) {
    const [a, e] = [actual.data[i]!, expected.data[i]!];
    if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
    const allowed = rtol * (Math.abs(e) + 1) + (slack ? slack[i]! : 0);
    if (!(Math.abs(a - e) <= allowed)) return `element ${i}: ${a} vs ${e} (allowed ${allowed.toExponential(2)})`;
  }
  return undefined;
}

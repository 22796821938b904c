import type { DType } from './dtype.ts';
import { GraphTypeError } from './errors.ts';
import type { Graph } from './graph.ts';
import { GraphBuilder } from './graph-builder.ts';
import type { NodeRef } from './op-def.ts';
import type { BinaryName, CompareName, UnaryName } from './ops/elementwise.ts';
import type { Activation } from './ops/composite/ffn.ts';
import type { GluActivation } from './ops/composite/glu-ffn.ts';
import type { RopeStyle } from './ops/rope.ts';
import type { Dim, Shape } from './shape.ts';
import type { TensorType } from './tensor-type.ts';

/**
 * A typed handle on a graph value. D and S live only in the type system (phantom parameters):
 * `Tensor<'f32', readonly ['batch', 'seq', 512]>`. Operations check dtype and rank at compile time;
 * the runtime type rules check everything again (with messages naming the op and the model line).
 */
export class Tensor<D extends DType = DType, S extends Shape = Shape> {
  declare readonly __dtype: D;
  declare readonly __shape: S;
  constructor(
    readonly builder: ModelBuilder,
    readonly ref: NodeRef,
  ) {}

  get type(): TensorType {
    return this.builder.graph.typeOf(this.ref);
  }
  get dtype(): D {
    return this.type.dtype as D;
  }
  get shape(): S {
    return this.type.shape as unknown as S;
  }
}

/** A state input and, once written, its next value (see `ModelBuilder.state`). */
export class State<D extends DType = DType, S extends Shape = Shape> {
  private written: Tensor<D, S> | undefined;
  constructor(
    readonly name: string,
    readonly value: Tensor<D, S>,
  ) {}

  /** Sets the state's next value (once) and returns it. */
  write(next: Tensor<D, S>): Tensor<D, S> {
    if (this.written) throw new GraphTypeError(`state '${this.name}' written twice`);
    if (this.value.builder.graph.node(next.ref).op !== 'cache_update') {
      throw new GraphTypeError(`state '${this.name}' must be written with cacheUpdate (so that plans update it in place), got ${this.value.builder.graph.node(next.ref).op}`);
    }
    this.written = next;
    return next;
  }

  /** @internal the written value, for build */
  next(): Tensor<D, S> {
    if (!this.written) throw new GraphTypeError(`state '${this.name}' is never written: call its write(m.cacheUpdate(...))`);
    return this.written;
  }
}

/** Shapes that broadcast to S from the right: any suffix of S with any axis replaced by 1. */
export type BroadcastTo<S extends Shape> = number extends S['length']
  ? Shape
  : S extends readonly [infer H extends Dim, ...infer T extends Shape]
    ? readonly [H | 1, ...OrOnes<T>] | BroadcastTo<T>
    : readonly [];
/** S with each axis either its own size or 1. */
type OrOnes<S extends Shape> = S extends readonly [infer H extends Dim, ...infer T extends Shape] ? readonly [H | 1, ...OrOnes<T>] : readonly [];

/** Numpy broadcasting of two shapes from the right: a 1 takes the other side's size. */
type Broadcast<A extends Shape, B extends Shape> = number extends A['length'] | B['length']
  ? Shape
  : A extends readonly [...infer AH extends Shape, infer AL extends Dim]
    ? B extends readonly [...infer BH extends Shape, infer BL extends Dim]
      ? readonly [...Broadcast<AH, BH>, [AL] extends [1] ? BL : AL]
      : A
    : B;
/**
 * `unknown` (no constraint) when A and B broadcast together, else a type no tensor has. Two sizes
 * agree when one is 1, they are equal, or either is not a literal (only known at run time).
 */
type Broadcastable<A extends Shape, B extends Shape> = AxesAgree<A, B> extends true ? unknown : { readonly __error: `shapes ${ShowShape<A>} and ${ShowShape<B>} do not broadcast` };
type AxesAgree<A extends Shape, B extends Shape> = A extends readonly [...infer AH extends Shape, infer AL extends Dim]
  ? B extends readonly [...infer BH extends Shape, infer BL extends Dim]
    ? DimsAgree<AL, BL> extends true
      ? AxesAgree<AH, BH>
      : false
    : true
  : true;
type DimsAgree<A extends Dim, B extends Dim> = [A] extends [1] ? true : [B] extends [1] ? true : [A] extends [B] ? true : [IsLiteral<A>, IsLiteral<B>] extends [true, true] ? false : true;
type IsLiteral<X extends Dim> = number extends X ? false : string extends X ? false : true;
type WithHoles<S extends readonly (Dim | -1)[]> = { readonly [I in keyof S]: S[I] extends -1 ? Dim : S[I] };
type ToNumber<T> = T extends `${infer N extends number}` ? N : never;
/** The axis numbers of S (0 | 1 | 2 for rank 3); any number when the rank is unknown. */
type Axis<S extends Shape> = number extends S['length'] ? number : ToNumber<Exclude<keyof S, keyof Shape>>;
/** Axes counted from either end, Python-style (-3 | -2 | -1 | 0 | 1 | 2 for rank 3). */
type SignedAxis<S extends Shape> = Axis<S> | ToNumber<`-${Exclude<keyof [unknown, ...S], keyof Shape | '0'> & string}`>;
type Permuted<S extends Shape, P extends readonly number[]> = { readonly [I in keyof P]: S[P[I] & keyof S] };
/** `unknown` when P lists as many axes as S has; else a message that TypeScript shows in its error. */
type PermLength<S extends Shape, P extends readonly number[]> = number extends S['length']
  ? unknown
  : P['length'] extends S['length']
    ? unknown
    : `transpose: perm must list each of the ${S['length']} axes once, got ${P['length']}`;
/** "[batch, seq, 64]": a shape as TypeScript error messages show it. */
type ShowShape<S extends Shape> = number extends S['length'] ? 'Shape' : `[${JoinDims<S>}]`;
type JoinDims<S extends Shape> = S extends readonly [infer H extends Dim, ...infer T extends Shape]
  ? T['length'] extends 0
    ? ShowDim<H>
    : `${ShowDim<H>}, ${JoinDims<T>}`
  : '';
type ShowDim<D extends Dim> = number extends D ? 'number' : string extends D ? 'string' : `${D}`;
/** A tuple of N unknowns, for arithmetic on axis numbers. */
type Counter<N extends number, Acc extends unknown[] = []> = Acc['length'] extends N ? Acc : Counter<N, [...Acc, unknown]>;
/** An axis as a non-negative number: -1 is the last axis of a rank-R shape. */
type NormalAxis<A extends number, R extends number> = `${A}` extends `-${infer N extends number}`
  ? Counter<R> extends [...Counter<N>, ...infer Rest] ? Rest['length'] : never
  : A;
/** S with the given axes set to 1 (keepDims) or removed; unknown when the rank, axes or keepDims are. */
type Reduced<S extends Shape, A extends readonly number[], K extends boolean> = number extends S['length']
  ? Shape
  : boolean extends K
    ? Shape
    : number extends A[number]
      ? Shape
      : ReduceAxes<S, NormalAxis<A[number], S['length']>, K>;
/** Walks S left to right; `Seen` counts the axes visited, `Out` collects the result. */
type ReduceAxes<S extends Shape, A extends number, K extends boolean, Seen extends unknown[] = [], Out extends Shape = readonly []> =
  S extends readonly [infer H extends Dim, ...infer T extends Shape]
    ? ReduceAxes<T, A, K, [...Seen, H], Seen['length'] extends A ? (K extends true ? readonly [...Out, 1] : Out) : readonly [...Out, H]>
    : Out;
/** S with the size along one axis unknown (slice, concat). */
type Resized<S extends Shape, A extends number> = number extends A
  ? { readonly [I in keyof S]: Dim }
  : { readonly [I in keyof S]: I extends `${NormalAxis<A, S['length']>}` ? Dim : S[I] };

type F32<S extends Shape> = Tensor<'f32', S>;
type Operand<D extends DType, S extends Shape> = Tensor<NoInfer<D>, BroadcastTo<S>> | number;

/**
 * The typed model builder. Each method adds one node; composite ops (attention, ffn, add_norm, ...)
 * stay single nodes until the compiler decomposes or fuses them.
 */
export class ModelBuilder {
  readonly graph = new GraphBuilder();
  private readonly states = new Map<string, State>();

  // ---- values from outside ----
  input<const D extends DType, const S extends Shape>(name: string, dtype: D, shape: S): Tensor<D, S> {
    return this.wrap(this.graph.input(name, dtype, shape));
  }
  param<const S extends Shape>(name: string, shape: S): F32<S> {
    return this.wrap(this.graph.param(name, 'f32', shape));
  }
  constant(value: number | readonly number[], shape: readonly number[] = []): F32<Shape> {
    return this.wrap(this.graph.constant(value, shape, 'f32'));
  }
  range<const N extends Dim>(size: N, start = 0): Tensor<'i32', readonly [N]> {
    return this.wrap(this.graph.add('range', [], { size, start, dtype: 'i32' }));
  }

  // ---- elementwise ----
  add<D extends DType, S extends Shape>(a: Tensor<D, S>, b: Operand<D, S>): Tensor<D, S>;
  add<D extends DType, S extends Shape>(a: Operand<D, S>, b: Tensor<D, S>): Tensor<D, S>;
  add<D extends DType, A extends Shape, B extends Shape>(a: Tensor<D, A>, b: Tensor<NoInfer<D>, B> & Broadcastable<A, B>): Tensor<D, Broadcast<A, B>>;
  add(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('add', a, b);
  }
  sub<D extends DType, S extends Shape>(a: Tensor<D, S>, b: Operand<D, S>): Tensor<D, S>;
  sub<D extends DType, S extends Shape>(a: Operand<D, S>, b: Tensor<D, S>): Tensor<D, S>;
  sub<D extends DType, A extends Shape, B extends Shape>(a: Tensor<D, A>, b: Tensor<NoInfer<D>, B> & Broadcastable<A, B>): Tensor<D, Broadcast<A, B>>;
  sub(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('sub', a, b);
  }
  mul<D extends DType, S extends Shape>(a: Tensor<D, S>, b: Operand<D, S>): Tensor<D, S>;
  mul<D extends DType, S extends Shape>(a: Operand<D, S>, b: Tensor<D, S>): Tensor<D, S>;
  mul<D extends DType, A extends Shape, B extends Shape>(a: Tensor<D, A>, b: Tensor<NoInfer<D>, B> & Broadcastable<A, B>): Tensor<D, Broadcast<A, B>>;
  mul(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('mul', a, b);
  }
  div<D extends DType, S extends Shape>(a: Tensor<D, S>, b: Operand<D, S>): Tensor<D, S>;
  div<D extends DType, S extends Shape>(a: Operand<D, S>, b: Tensor<D, S>): Tensor<D, S>;
  div<D extends DType, A extends Shape, B extends Shape>(a: Tensor<D, A>, b: Tensor<NoInfer<D>, B> & Broadcastable<A, B>): Tensor<D, Broadcast<A, B>>;
  div(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('div', a, b);
  }
  binaryOp<D extends DType, S extends Shape>(op: BinaryName, a: Tensor<D, S>, b: Operand<D, S>): Tensor<D, S> {
    return this.binary(op, a, b) as Tensor<D, S>;
  }
  compare<D extends DType, S extends Shape>(op: CompareName, a: Tensor<D, S>, b: Operand<D, S>): Tensor<'i32', S>;
  compare<D extends DType, A extends Shape, B extends Shape>(op: CompareName, a: Tensor<D, A>, b: Tensor<NoInfer<D>, B> & Broadcastable<A, B>): Tensor<'i32', Broadcast<A, B>>;
  compare(op: CompareName, a: Tensor, b: Tensor | number): Tensor {
    return this.binary(op, a, b);
  }
  unary<S extends Shape>(op: UnaryName, x: F32<S>): F32<S> {
    return this.wrap(this.graph.add(op, [x.ref]));
  }
  where<D extends DType, S extends Shape>(cond: Tensor<'i32', BroadcastTo<S>>, a: Tensor<D, S>, b: Operand<D, S>): Tensor<D, S>;
  /** Two f32 constants chosen by cond: `where(future, MASKED, 0)` builds an additive mask of cond's shape. */
  where<C extends Shape>(cond: Tensor<'i32', C>, a: number, b: number): F32<C>;
  where<D extends DType, C extends Shape, A extends Shape>(cond: Tensor<'i32', C> & Broadcastable<C, A>, a: Tensor<D, A>, b: Operand<D, A>): Tensor<D, Broadcast<C, A>>;
  where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
    const dtype = typeof a === 'number' ? (typeof b === 'number' ? 'f32' : b.dtype) : a.dtype;
    return this.wrap(this.graph.add('where', [cond.ref, this.operand(a, dtype), this.operand(b, dtype)]));
  }
  cast<const D extends DType, S extends Shape>(x: Tensor<DType, S>, dtype: D): Tensor<D, S> {
    return this.wrap(this.graph.add('cast', [x.ref], { dtype }));
  }

  /**
   * A state: a graph input that the graph also outputs, under the same name, as its next value. The
   * backend keeps it between runs (a KV cache); `write` gives that next value, which must be a
   * `cacheUpdate` of `value` so that compiled plans can update it in place. `build` adds the outputs.
   */
  state<const D extends DType, const S extends Shape>(name: string, dtype: D, shape: S): State<D, S> {
    if (this.states.has(name)) throw new GraphTypeError(`state '${name}' declared twice`);
    const state = new State<D, S>(name, this.input(name, dtype, shape));
    this.states.set(name, state);
    return state;
  }
  /**
   * `cache` with `update` written at [position, position + T) along `axis` (a KV-cache append):
   * cache [B, ..., P, ...], update [B, ..., T, ...], position i32 [B] (each row's own) or [1].
   */
  cacheUpdate<D extends DType, S extends Shape>(cache: Tensor<D, S>, update: Tensor<NoInfer<D>, Shape>, position: Tensor<'i32', readonly [Dim]>, axis: SignedAxis<S>): Tensor<D, S> {
    return this.wrap(this.graph.add('cache_update', [cache.ref, update.ref, position.ref], { axis }));
  }

  // ---- linear algebra and normalization ----
  matmul<BA extends Shape, M extends Dim, K extends Dim, BB extends Shape, N extends Dim>(
    a: F32<readonly [...BA, M, K]>,
    b: F32<readonly [...BB, NoInfer<K>, N]>,
  ): F32<readonly [...Broadcast<BA, BB>, M, N]>;
  /** a @ b^T with b stored [..., N, K] (a tied output head reads the embedding table [V, D] so): no transpose node. */
  matmul<BA extends Shape, M extends Dim, K extends Dim, BB extends Shape, N extends Dim>(
    a: F32<readonly [...BA, M, K]>,
    b: F32<readonly [...BB, N, NoInfer<K>]>,
    options: { readonly transposeB: true },
  ): F32<readonly [...Broadcast<BA, BB>, M, N]>;
  matmul(a: F32<Shape>, b: F32<Shape>, options?: { readonly transposeB: true }): F32<Shape> {
    return this.wrap(this.graph.add('matmul', [a.ref, b.ref], options?.transposeB ? { transposeB: true } : {}));
  }
  softmax<S extends Shape>(x: F32<S>, axis = -1): F32<S> {
    return this.wrap(this.graph.add('softmax', [x.ref], { axis }));
  }
  layerNorm<S extends Shape>(x: F32<S>, gamma: F32<readonly [Dim]>, beta: F32<readonly [Dim]>, eps = 1e-5): F32<S> {
    return this.wrap(this.graph.add('layer_norm', [x.ref, gamma.ref, beta.ref], { eps }));
  }
  reduce<S extends Shape, const A extends readonly SignedAxis<S>[], K extends boolean = false>(
    kind: 'sum' | 'mean' | 'max',
    x: F32<S>,
    axes: A,
    keepDims?: K,
  ): F32<Reduced<S, A, K>> {
    return this.wrap(this.graph.add(`reduce_${kind}`, [x.ref], { axes: [...axes], keepDims: keepDims ?? false }));
  }

  // ---- shapes ----
  reshape<D extends DType, const S extends readonly (Dim | -1)[]>(x: Tensor<D, Shape>, shape: S): Tensor<D, WithHoles<S>> {
    return this.wrap(this.graph.add('reshape', [x.ref], { shape: [...shape] }));
  }
  transpose<D extends DType, S extends Shape, const P extends readonly Axis<S>[]>(
    x: Tensor<D, S>,
    perm: P & PermLength<S, P>,
  ): Tensor<D, Permuted<S, P>> {
    return this.wrap(this.graph.add('transpose', [x.ref], { perm: [...perm] }));
  }
  slice<D extends DType, S extends Shape, const A extends SignedAxis<S>>(x: Tensor<D, S>, axis: A, start: number, end: number | null, step = 1): Tensor<D, Resized<S, A>> {
    return this.wrap(this.graph.add('slice', [x.ref], { axis, start, end, step }));
  }
  concat<D extends DType, S extends Shape, const A extends SignedAxis<S>>(xs: readonly Tensor<D, S>[], axis: A): Tensor<D, Resized<S, A>> {
    return this.wrap(this.graph.add('concat', xs.map((x) => x.ref), { axis }));
  }
  gather<T extends Shape, I extends Shape>(table: F32<readonly [Dim, ...T]>, indices: Tensor<'i32', I>): F32<readonly [...I, ...T]> {
    return this.wrap(this.graph.add('gather', [table.ref, indices.ref]));
  }

  // ---- the paper's blocks (composite ops) ----
  /** x @ weight + bias, weight [in, out]: x's last axis (in) becomes out. */
  linear<const H extends readonly Dim[], K extends Dim, Out extends Dim>(x: F32<readonly [...H, K]>, weight: F32<readonly [NoInfer<K>, Out]>, bias?: F32<readonly [NoInfer<Out>]>): F32<readonly [...H, Out]> {
    return this.wrap(this.graph.add('linear', bias ? [x.ref, weight.ref, bias.ref] : [x.ref, weight.ref]));
  }
  embed<I extends Shape, E extends Dim>(ids: Tensor<'i32', I>, table: F32<readonly [Dim, E]>, scale = 1): F32<readonly [...I, E]> {
    return this.wrap(this.graph.add('embed', [ids.ref, table.ref], { scale }));
  }
  /** x + the sinusoidal position encoding at `positions` (default 0..T-1); layout 'interleaved' (the paper) or 'halves' (Marian). */
  sinusoidalPosenc<S extends Shape>(x: F32<S>, positions?: Tensor<'i32', Shape>, layout: 'interleaved' | 'halves' = 'interleaved'): F32<S> {
    return this.wrap(this.graph.add('sinusoidal_posenc', positions ? [x.ref, positions.ref] : [x.ref], { layout }));
  }
  learnedPosenc<S extends Shape>(x: F32<S>, table: F32<readonly [Dim, Dim]>, positions?: Tensor<'i32', Shape>): F32<S> {
    return this.wrap(this.graph.add('learned_posenc', positions ? [x.ref, table.ref, positions.ref] : [x.ref, table.ref]));
  }
  causalMask<T extends Dim>(x: Tensor<DType, readonly [Dim, T, ...Dim[]]>): F32<readonly [T, T]> {
    return this.wrap(this.graph.add('causal_mask', [x.ref]));
  }
  paddingMask<B extends Dim, T extends Dim>(ids: Tensor<'i32', readonly [B, T]>, padId: number | null): F32<readonly [B, 1, 1, T]> {
    return this.wrap(this.graph.add('padding_mask', [ids.ref], { padId }));
  }
  attention<B extends Dim, Tq extends Dim, D extends Dim>(
    q: F32<readonly [B, Tq, D]>,
    k: F32<readonly [B, Dim, D]>,
    v: F32<readonly [B, Dim, D]>,
    heads: number,
    mask?: F32<Shape>,
  ): F32<readonly [B, Tq, D]> {
    const inputs = mask ? [q.ref, k.ref, v.ref, mask.ref] : [q.ref, k.ref, v.ref];
    return this.wrap(this.graph.add('attention', inputs, { heads }));
  }
  /**
   * Grouped-query (and, with kvHeads 1, multi-query) attention: k and v carry `kvHeads` heads of
   * D / heads features, each shared by heads / kvHeads query heads, without repeating them.
   */
  groupedAttention<B extends Dim, Tq extends Dim, D extends Dim>(
    q: F32<readonly [B, Tq, D]>,
    k: F32<readonly [B, Dim, Dim]>,
    v: F32<readonly [B, Dim, Dim]>,
    heads: number,
    kvHeads: number,
    mask?: F32<Shape>,
  ): F32<readonly [B, Tq, D]> {
    const inputs = mask ? [q.ref, k.ref, v.ref, mask.ref] : [q.ref, k.ref, v.ref];
    return this.wrap(this.graph.add('attention', inputs, { heads, kvHeads }));
  }
  /** RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * (weight + weightOffset); Gemma uses weightOffset 1. */
  rmsNorm<S extends Shape>(x: F32<S>, weight: F32<readonly [Dim]>, eps = 1e-6, weightOffset = 0): F32<S> {
    return this.wrap(this.graph.add('rms_norm', [x.ref, weight.ref], { eps, weightOffset }));
  }
  /** Rotary position embedding of x[B, T, H, Dh] at positions offset + 0..T-1 (offset: i32 [B] or [1]). */
  rope<S extends readonly [Dim, Dim, Dim, Dim]>(x: F32<S>, options: { theta?: number; style?: RopeStyle; fraction?: number; offset?: Tensor<'i32', readonly [Dim]> } = {}): F32<S> {
    const { offset, ...attrs } = options;
    return this.wrap(this.graph.add('rope', offset ? [x.ref, offset.ref] : [x.ref], attrs));
  }
  /** SwiGLU (silu) or GeGLU (gelu) feed-forward: (act(x @ wGate) * (x @ wUp)) @ wDown. */
  gluFfn<S extends Shape>(x: F32<S>, wGate: F32<readonly [Dim, Dim]>, wUp: F32<readonly [Dim, Dim]>, wDown: F32<readonly [Dim, Dim]>, activation: GluActivation = 'silu'): F32<S> {
    return this.wrap(this.graph.add('glu_ffn', [x.ref, wGate.ref, wUp.ref, wDown.ref], { activation }));
  }
  addNorm<S extends Shape>(x: F32<S>, residual: F32<S>, gamma: F32<readonly [Dim]>, beta: F32<readonly [Dim]>, eps = 1e-5): F32<S> {
    return this.wrap(this.graph.add('add_norm', [x.ref, residual.ref, gamma.ref, beta.ref], { eps }));
  }
  ffn<S extends Shape>(
    x: F32<S>,
    w1: F32<readonly [Dim, Dim]>,
    b1: F32<readonly [Dim]>,
    w2: F32<readonly [Dim, Dim]>,
    b2: F32<readonly [Dim]>,
    activation: Activation,
  ): F32<S> {
    return this.wrap(this.graph.add('ffn', [x.ref, w1.ref, b1.ref, w2.ref, b2.ref], { activation }));
  }

  /**
   * The k largest values along the last axis, largest first, and their indices (ties to the lower
   * index, NaN first: torch.topk's order). Two top_k nodes, one per output.
   */
  topK<const H extends readonly Dim[], K extends number>(x: F32<readonly [...H, Dim]>, k: K): { values: F32<readonly [...H, K]>; indices: Tensor<'i32', readonly [...H, K]> } {
    return {
      values: this.wrap(this.graph.add('top_k', [x.ref], { k, output: 'values' })),
      indices: this.wrap(this.graph.add('top_k', [x.ref], { k, output: 'indices' })),
    };
  }
  /** Boolean logic on i32 masks (nonzero is true), i32 0/1 results: and, or of two broadcasting masks, not of one. */
  logical<S extends Shape>(op: 'and' | 'or', a: Tensor<'i32', S>, b: Tensor<'i32', BroadcastTo<S>>): Tensor<'i32', S>;
  logical<S extends Shape>(op: 'not', a: Tensor<'i32', S>): Tensor<'i32', S>;
  logical(op: 'and' | 'or' | 'not', a: Tensor<'i32', Shape>, b?: Tensor<'i32', Shape>): Tensor<'i32', Shape> {
    return this.wrap(this.graph.add(`logical_${op}`, b ? [a.ref, b.ref] : [a.ref]));
  }

  /** The graph with these outputs and every state's next value (see `state`). */
  build(outputs: Readonly<Record<string, Tensor>>): Graph {
    const all = Object.fromEntries(Object.entries(outputs).map(([k, t]) => [k, t.ref]));
    for (const [name, state] of this.states) {
      if (name in all) throw new GraphTypeError(`output '${name}' is also a state: its value is the state's write`);
      all[name] = state.next().ref;
    }
    return this.graph.build(all);
  }

  private wrap<D extends DType, S extends Shape>(ref: NodeRef): Tensor<D, S> {
    return new Tensor<D, S>(this, ref);
  }
  private operand(x: Tensor | number, dtype: DType): NodeRef {
    return typeof x === 'number' ? this.graph.constant(x, [], dtype) : x.ref;
  }
  private binary(op: string, a: Tensor | number, b: Tensor | number): Tensor {
    const dtype = typeof a === 'number' ? (b as Tensor).dtype : a.dtype;
    return this.wrap(this.graph.add(op, [this.operand(a, dtype), this.operand(b, dtype)]));
  }
}

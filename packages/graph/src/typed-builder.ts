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
import type { Axis, Broadcast, BroadcastTo, Divides, Elementwise, ElementwiseDType, ElementwiseShape, HeadsDivide, PermLength, Permuted, Reduced, Resized, SameCount, SignedAxis, Sliced, WhereDType, WhereOperands, WhereShape, WithHoles } from './typed-shapes.ts';

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

type F32<S extends Shape> = Tensor<'f32', S>;

/**
 * What attention takes besides q, k, v and the head counts (fused_attention's attributes): an
 * additive mask; the scale (default 1 / sqrt(Dh)); soft-capping (Gemma 2); ALiBi slopes, one per
 * query head; causal and sliding-window masks computed from positions (a window implies causal);
 * and the positions of the queries and keys ([T] or [B, T] i32; default: the queries are the last
 * Tq of the keys), for a KV cache whose slots are not in order (a rolling window).
 */
export interface AttentionOptions {
  readonly mask?: F32<Shape>;
  readonly scale?: number;
  readonly softcap?: number;
  readonly alibi?: readonly number[];
  readonly causal?: boolean;
  readonly window?: number;
  readonly positions?: { readonly q: Tensor<'i32', Shape>; readonly k: Tensor<'i32', Shape> };
}

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
  /**
   * Elementwise a + b: tensors of one dtype whose shapes broadcast (numpy-style, from the right), or a
   * tensor and a number. One signature, so that a mistake is one error naming both shapes.
   */
  add<X extends Tensor | number, Y extends Tensor | number>(a: X, b: Y & Elementwise<X, Y>): Tensor<ElementwiseDType<X, Y>, ElementwiseShape<X, Y>>;
  add(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('add', a, b);
  }
  sub<X extends Tensor | number, Y extends Tensor | number>(a: X, b: Y & Elementwise<X, Y>): Tensor<ElementwiseDType<X, Y>, ElementwiseShape<X, Y>>;
  sub(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('sub', a, b);
  }
  mul<X extends Tensor | number, Y extends Tensor | number>(a: X, b: Y & Elementwise<X, Y>): Tensor<ElementwiseDType<X, Y>, ElementwiseShape<X, Y>>;
  mul(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('mul', a, b);
  }
  div<X extends Tensor | number, Y extends Tensor | number>(a: X, b: Y & Elementwise<X, Y>): Tensor<ElementwiseDType<X, Y>, ElementwiseShape<X, Y>>;
  div(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('div', a, b);
  }
  binaryOp<X extends Tensor, Y extends Tensor | number>(op: BinaryName, a: X, b: Y & Elementwise<X, Y>): Tensor<ElementwiseDType<X, Y>, ElementwiseShape<X, Y>>;
  binaryOp(op: BinaryName, a: Tensor, b: Tensor | number): Tensor {
    return this.binary(op, a, b);
  }
  compare<X extends Tensor, Y extends Tensor | number>(op: CompareName, a: X, b: Y & Elementwise<X, Y>): Tensor<'i32', ElementwiseShape<X, Y>>;
  compare(op: CompareName, a: Tensor, b: Tensor | number): Tensor {
    return this.binary(op, a, b);
  }
  unary<S extends Shape>(op: UnaryName, x: F32<S>): F32<S> {
    return this.wrap(this.graph.add(op, [x.ref]));
  }
  /**
   * a where cond (i32) is non-zero, else b; cond, a and b broadcast together, a and b have one dtype.
   * Two numbers are f32 constants: `where(future, MASKED, 0)` builds an additive mask of cond's shape.
   */
  where<C extends Shape, X extends Tensor | number, Y extends Tensor | number>(cond: Tensor<'i32', C>, a: X, b: Y & WhereOperands<C, X, Y>): Tensor<WhereDType<X, Y>, WhereShape<C, X, Y>>;
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
  /**
   * `cache` with `update` written at `position` along `axis`: `count` [1] or [B] writes only each row's
   * first count rows; `rolling` treats the axis as a ring (slot (position + t) mod size: a window's cache).
   */
  cacheUpdate<D extends DType, S extends Shape>(
    cache: Tensor<D, S>,
    update: Tensor<NoInfer<D>, Shape>,
    position: Tensor<'i32', readonly [Dim]>,
    axis: SignedAxis<S>,
    options: { readonly rolling?: boolean; readonly count?: Tensor<'i32', readonly [Dim]> } = {},
  ): Tensor<D, S> {
    const inputs = [cache.ref, update.ref, position.ref, ...(options.count ? [options.count.ref] : [])];
    return this.wrap(this.graph.add('cache_update', inputs, { axis, rolling: options.rolling ?? false }));
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
  /** x's elements in a new shape (at most one -1: the size that keeps the count); literal shapes of another element count do not compile. */
  reshape<D extends DType, X extends Shape, const S extends readonly (Dim | -1)[]>(x: Tensor<D, X>, shape: S & SameCount<X, S>): Tensor<D, WithHoles<S>> {
    return this.wrap(this.graph.add('reshape', [x.ref], { shape: [...shape] }));
  }
  transpose<D extends DType, S extends Shape, const P extends readonly Axis<S>[]>(
    x: Tensor<D, S>,
    perm: P & PermLength<S, P>,
  ): Tensor<D, Permuted<S, P>> {
    return this.wrap(this.graph.add('transpose', [x.ref], { perm: [...perm] }));
  }
  /** x[start:end:step] along `axis` (end null: to the end); literal bounds give a literal size where the slice op fixes one. */
  slice<D extends DType, S extends Shape, const A extends SignedAxis<S>, St extends number, E extends number | null, P extends number = 1>(
    x: Tensor<D, S>,
    axis: A,
    start: St,
    end: E,
    step: P = 1 as P,
  ): Tensor<D, Sliced<S, A, St, E, P>> {
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
  /** Multi-head attention; heads must divide D (a literal D that they do not divide does not compile). */
  attention<B extends Dim, Tq extends Dim, D extends Dim, H extends number>(
    q: F32<readonly [B, Tq, D]>,
    k: F32<readonly [B, Dim, D]>,
    v: F32<readonly [B, Dim, D]>,
    heads: H & HeadsDivide<'attention', D, H>,
    maskOrOptions?: F32<Shape> | AttentionOptions,
  ): F32<readonly [B, Tq, D]> {
    return this.attentionNode([q, k, v], { heads }, maskOrOptions);
  }
  /**
   * Grouped-query (and, with kvHeads 1, multi-query) attention: k and v carry `kvHeads` heads of
   * D / heads features, each shared by heads / kvHeads query heads, without repeating them.
   */
  groupedAttention<B extends Dim, Tq extends Dim, D extends Dim, H extends number, KV extends number>(
    q: F32<readonly [B, Tq, D]>,
    k: F32<readonly [B, Dim, Dim]>,
    v: F32<readonly [B, Dim, Dim]>,
    heads: H & HeadsDivide<'groupedAttention', D, H>,
    kvHeads: KV & Divides<H, KV, `groupedAttention: kvHeads = ${KV} must divide heads = ${H}`>,
    maskOrOptions?: F32<Shape> | AttentionOptions,
  ): F32<readonly [B, Tq, D]> {
    return this.attentionNode([q, k, v], { heads, kvHeads }, maskOrOptions);
  }
  private attentionNode<S extends Shape>(qkv: readonly [Tensor, Tensor, Tensor], attrs: Record<string, unknown>, maskOrOptions: F32<Shape> | AttentionOptions | undefined): F32<S> {
    const options: AttentionOptions = maskOrOptions instanceof Tensor ? { mask: maskOrOptions } : (maskOrOptions ?? {});
    const { mask, positions, ...extras } = options;
    const inputs = [...qkv, ...(mask ? [mask] : []), ...(positions ? [positions.q, positions.k] : [])].map((t) => t.ref);
    const causal = extras.causal ?? extras.window !== undefined;
    return this.wrap(this.graph.add('attention', inputs, { ...attrs, ...extras, causal, positions: positions !== undefined }));
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
   * A sparse mixture of gated experts: the router [D, E] picks each token's k experts, whose GLU
   * outputs (w_gate, w_up [E, D, F], w_down [E, F, D]) are weighed by its softmax (renormalized over
   * the k, as Mixtral does, unless `renormalize: false`). Each token runs its k experts only.
   */
  moeFfn<S extends Shape>(
    x: F32<S>,
    router: F32<readonly [Dim, Dim]>,
    wGate: F32<readonly [Dim, Dim, Dim]>,
    wUp: F32<readonly [Dim, Dim, Dim]>,
    wDown: F32<readonly [Dim, Dim, Dim]>,
    options: { readonly k: number; readonly activation?: GluActivation; readonly renormalize?: boolean },
  ): F32<S> {
    return this.wrap(this.graph.add('moe_ffn', [x.ref, router.ref, wGate.ref, wUp.ref, wDown.ref], { activation: 'silu', renormalize: true, ...options }));
  }
  /** Each row of x [..., J or 1, K] times the expert matrix of w [E, K, N] its id [..., J] picks: [..., J, N]. */
  expertMatmul<const H extends readonly Dim[]>(x: F32<readonly [...H, Dim, Dim]>, w: F32<readonly [Dim, Dim, Dim]>, ids: Tensor<'i32', readonly [...H, Dim]>, options: { readonly transposeB?: boolean } = {}): F32<readonly [...H, Dim, Dim]> {
    return this.wrap(this.graph.add('expert_matmul', [x.ref, w.ref, ids.ref], { transposeB: options.transposeB ?? false }));
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

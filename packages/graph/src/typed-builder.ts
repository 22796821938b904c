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
/** S with the size along one axis unknown (concat). */
type Resized<S extends Shape, A extends number> = number extends A
  ? { readonly [I in keyof S]: Dim }
  : { readonly [I in keyof S]: I extends `${NormalAxis<A, S['length']>}` ? Dim : S[I] };
/**
 * S sliced along axis A from St to E (null: to the end) by step P, with the size the slice op gives
 * whenever literal bounds fix it: on a literal axis size (Python-style clamping), or on a symbolic axis
 * with bounds of one sign (see the slice op); Dim otherwise (bounds or step that are not literals).
 */
type Sliced<S extends Shape, A extends number, St extends number, E extends number | null, P extends number> = number extends A
  ? { readonly [I in keyof S]: Dim }
  : { readonly [I in keyof S]: I extends `${NormalAxis<A, S['length']>}` ? SliceSize<S[I], St, E, P> : S[I] };
type SliceSize<N, St extends number, E extends number | null, P extends number> = [St, E, P] extends [0, null, 1]
  ? N
  : AsDim<SliceSizeOf<N, IntOf<St>, [E] extends [null] ? null : IntOf<E & number>, IntOf<P>>>;
type SliceSizeOf<N, S, E, P> = S extends [infer SNeg extends boolean, infer SMag extends number]
  ? P extends [false, infer Step extends number]
    ? Step extends 0
      ? Dim
      : IsSize<N> extends true
        ? E extends null
          ? StaticSlice<Clamp<SNeg, SMag, N & number>, N & number, Step>
          : E extends [infer ENeg extends boolean, infer EMag extends number]
            ? StaticSlice<Clamp<SNeg, SMag, N & number>, Clamp<ENeg, EMag, N & number>, Step>
            : Dim
        : IsSymbol<N> extends true
          ? SymbolicSlice<SNeg, SMag, E, Step>
          : Dim
    : Dim
  : Dim;
/** A bound on an axis of size N, Python-style: from the end when negative, then clamped to 0..N. */
type Clamp<Neg extends boolean, Mag extends number, N extends number> = Neg extends true
  ? (Ge<N, Mag> extends true ? Minus<N, Mag> : 0)
  : (Ge<Mag, N> extends true ? N : Mag);
type StaticSlice<S extends number, E extends number, P extends number> = Ge<S, E> extends true ? 0 : CeilDiv<Minus<E, S>, P>;
/** A symbolic axis sliced from the front (0 <= start <= end) or from the back (start < 0, end < 0 or none). */
type SymbolicSlice<SNeg extends boolean, SMag extends number, E, P extends number> = SNeg extends false
  ? (E extends [false, infer EMag extends number] ? (Ge<EMag, SMag> extends true ? CeilDiv<Minus<EMag, SMag>, P> : Dim) : Dim)
  : E extends null
    ? CeilDiv<SMag, P>
    : E extends [true, infer EMag extends number]
      ? (Ge<SMag, EMag> extends true ? CeilDiv<Minus<SMag, EMag>, P> : Dim)
      : Dim;
type CeilDiv<A extends number, P extends number> = Div<Plus<A, Minus<P, 1>>, P>;
/** An integer literal as [negative, magnitude] (-3 is [true, 3]); 'none' for number, unions, fractions. */
type IntOf<X extends number> = number extends X
  ? 'none'
  : IsUnion<X> extends true
    ? 'none'
    : `${X}` extends `-${infer M extends number}`
      ? (IsSize<M> extends true ? [true, M] : 'none')
      : IsSize<X> extends true ? [false, X] : 'none';
/** Whether N is one size literal (512; not number, 'seq', 2 | 3, -1 or 1.5). */
type IsSize<N> = [N] extends [number] ? ([ToDigits<N & number>] extends [never] ? false : IsUnion<N> extends true ? false : true) : false;
/** Whether N is one symbolic size ('seq', 'batch*seq', or string). */
type IsSymbol<N> = [N] extends [string] ? (IsUnion<N> extends true ? false : true) : false;
type IsUnion<T, U = T> = [T] extends [never] ? false : T extends unknown ? ([U] extends [T] ? false : true) : false;
type AsDim<N> = number extends N ? Dim : N;

/**
 * The dtype and the shape of an elementwise op's operand (a number is a scalar), read from the
 * phantom fields alone, so that a tensor of a generic shape still gives its dtype.
 */
type DTypeOf<X> = X extends { readonly __dtype: infer D extends DType } ? D : never;
type ShapeOf<X> = X extends { readonly __shape: infer S extends Shape } ? S : readonly [];
/**
 * `unknown` when the operands a (X) and b (Y) of an elementwise op go together: at least one tensor,
 * one dtype, shapes that broadcast (a size that is not a literal agrees with any). Otherwise b's
 * parameter type carries a message, which TypeScript prints in the one error at b.
 */
type Elementwise<X, Y> = [X] extends [number]
  ? ([Y] extends [number] ? { readonly __error: 'needs a tensor operand (both are numbers)' } : unknown)
  : [Y] extends [number]
    ? unknown
    : [X, Y] extends [Y, X]
      ? unknown
      : SameDType<DTypeOf<X>, DTypeOf<Y>> extends false
        ? { readonly __error: `dtypes differ (${DTypeOf<X>} and ${DTypeOf<Y>})` }
        : Broadcastable<ShapeOf<X>, ShapeOf<Y>>;
type SameDType<A extends DType, B extends DType> = [A] extends [B] ? true : [B] extends [A] ? true : false;
/** The result of an elementwise op: a's dtype (b's when a is a number), the shapes broadcast. */
type ElementwiseDType<X, Y> = [X] extends [number] ? DTypeOf<Y> : DTypeOf<X>;
type ElementwiseShape<X, Y> = [X] extends [number] ? ShapeOf<Y> : [Y] extends [number] ? ShapeOf<X> : [X, Y] extends [Y, X] ? ShapeOf<X> : Broadcast<ShapeOf<X>, ShapeOf<Y>>;
/** where(cond, a, b): a and b as an elementwise op's operands (or two numbers), then cond against their shape. */
type WhereOperands<C extends Shape, X, Y> = [X, Y] extends [number, number]
  ? unknown
  : unknown extends Elementwise<X, Y>
    ? Broadcastable<C, ElementwiseShape<X, Y>>
    : Elementwise<X, Y>;
type WhereDType<X, Y> = [X, Y] extends [number, number] ? 'f32' : ElementwiseDType<X, Y>;
type WhereShape<C extends Shape, X, Y> = [X, Y] extends [number, number] ? C : Joined<C, ElementwiseShape<X, Y>>;
/**
 * Broadcast<A, B>, or A where the shapes are the same type, so that a generic shape stays itself
 * (boxed: TypeScript defers a check of tuples with generic elements, not of objects holding them).
 */
type Joined<A extends Shape, B> = [{ s: A }, { s: B }] extends [{ s: B }, { s: A }] ? A : [B] extends [infer S extends Shape] ? Broadcast<A, S> : never;

/** The number of elements of S when every size is a literal (and the product a safe integer), else number. */
type ElementCount<S extends readonly Dim[], Acc extends number = 1> = number extends Acc
  ? number
  : S extends readonly [infer H, ...infer T extends readonly Dim[]]
    ? (IsSize<H> extends true ? ElementCount<T, Times<Acc, H & number>> : number)
    : number extends S['length'] ? number : Acc;
/** `unknown` when a reshape keeps the number of elements or either count is not known (a symbol, -1); else a message naming both. */
type SameCount<X extends Shape, S extends Shape> = [ElementCount<X>, ElementCount<S>] extends [infer CX extends number, infer CS extends number]
  ? number extends CX | CS
    ? unknown
    : [CX] extends [CS]
      ? unknown
      : { readonly __error: `reshape: ${ShowShape<X>} has ${CX} elements but ${ShowShape<S>} has ${CS}` }
  : unknown;
/** `unknown` unless Parts and Whole are size literals and Parts does not divide Whole: then the message M. */
type Divides<Whole, Parts, M extends string> = IsSize<Whole> extends true
  ? IsSize<Parts> extends true
    ? Mod<Whole & number, Parts & number> extends 0
      ? unknown
      : number extends Mod<Whole & number, Parts & number> ? unknown : { readonly __error: M }
    : unknown
  : unknown;
type HeadsDivide<Op extends string, D, H> = Divides<D, H, `${Op}: D = ${D & number} (the model width) must be divisible by heads = ${H & number}`>;

/**
 * Decimal arithmetic on size literals, digit by digit on tuples with the least significant digit
 * first (512 is [2, 1, 5]), so that sums, products and quotients of sizes in the millions stay cheap
 * to typecheck. The helpers are tail-recursive and take unconstrained arguments (TypeScript would
 * compare each recursive result with a constraint, too deeply).
 */
type DigitOf = { '0': 0; '1': 1; '2': 2; '3': 3; '4': 4; '5': 5; '6': 6; '7': 7; '8': 8; '9': 9 };
/** The low digit and the carry of a digit sum 0..19. */
type Low = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
type High = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
type TooLong = 16 | 17 | 18 | 19 | 20 | 21 | 22 | 23 | 24 | 25 | 26 | 27 | 28 | 29 | 30 | 31;
/** The digits of a non-negative integer literal of at most 15 digits; never for anything else (number, -3, 1.5, 1e21). */
type ToDigits<N extends number> = number extends N ? never : ParseDigits<`${N}`>;
type ParseDigits<S extends string, Acc extends number[] = []> = S extends `${infer C extends keyof DigitOf}${infer R}`
  ? ParseDigits<R, [DigitOf[C], ...Acc]>
  : S extends ''
    ? (Acc['length'] extends 0 | TooLong ? never : Acc)
    : never;
/** The number that digits A spell; number past 15 digits (not always a safe integer). */
type FromDigits<A> = Trim<A> extends infer T extends unknown[] ? (T['length'] extends TooLong ? number : JoinDigits<T> extends `${infer N extends number}` ? N : number) : number;
type JoinDigits<A, Out extends string = ''> = A extends readonly [infer H extends number, ...infer T] ? JoinDigits<T, `${H}${Out}`> : Out extends '' ? '0' : Out;
type Trim<A> = A extends readonly [...infer R, 0] ? Trim<R> : A;
type Head<A> = A extends readonly [infer H extends number, ...unknown[]] ? H : 0;
type Tail<A> = A extends readonly [unknown, ...infer T] ? T : [];
type DigitSum<A extends number, B extends number, C extends number> = [...Counter<A>, ...Counter<B>, ...Counter<C>]['length'];
/** A + B (C: a carry in). */
type AddDigits<A, B, C extends number = 0, Out extends number[] = []> = [A, B] extends [readonly [], readonly []]
  ? (C extends 0 ? Out : [...Out, C])
  : DigitSum<Head<A>, Head<B>, C> extends infer S extends keyof Low & number
    ? AddDigits<Tail<A>, Tail<B>, High[S], [...Out, Low[S]]>
    : never;
/** A - B, ending in -1 when B > A (a borrow left over). */
type SubDigits<A, B, Br extends number = 0, Out extends number[] = []> = [A, B] extends [readonly [], readonly []]
  ? (Br extends 0 ? Out : [...Out, -1])
  : [...Counter<Head<A>>, ...Counter<10>] extends [...Counter<Head<B>>, ...Counter<Br>, ...infer R]
    ? R['length'] extends infer D extends keyof Low & number
      ? SubDigits<Tail<A>, Tail<B>, High[D] extends 1 ? 0 : 1, [...Out, Low[D]]>
      : never
    : never;
type GeDigits<A, B> = SubDigits<A, B> extends readonly [...unknown[], -1] ? false : true;
/** A * D for one digit D, by adding A D times; A * B one digit of B at a time. */
type MulDigit<A, D extends number, Out = [], I extends unknown[] = []> = I['length'] extends D ? Out : MulDigit<A, D, AddDigits<Out, A>, [...I, unknown]>;
type MulDigits<A, B, Out = [], Shift extends 0[] = []> = B extends readonly [infer D extends number, ...infer T]
  ? MulDigit<A, D> extends infer P extends unknown[] ? MulDigits<A, T, AddDigits<Out, [...Shift, ...P]>, [...Shift, 0]> : never
  : Out;
/** [quotient, remainder] by long division, most significant digit first. */
type DivModDigits<A, B, Q extends number[] = [], R = []> = A extends readonly [...infer AH, infer D extends number]
  ? R extends readonly unknown[] ? DivStep<AH, B, Q, Trim<[D, ...R]>> : never
  : [Q, R];
type DivStep<A, B, Q extends number[], R, N extends unknown[] = []> = GeDigits<R, B> extends true
  ? DivStep<A, B, Q, Trim<SubDigits<R, B>>, [...N, unknown]>
  : DivModDigits<A, B, [N['length'], ...Q], R>;
/** The digits of A and B, or never when either is not a size literal. */
type DigitsOf<A extends number, B extends number> = [ToDigits<A>, ToDigits<B>] extends [infer X, infer Y] ? ([X] extends [never] ? never : [Y] extends [never] ? never : [X, Y]) : never;
/** A + B, A - B (for A >= B), A * B, A >= B, A / B (rounded down), A % B on size literals; number (boolean) when an argument is not one. */
type Plus<A extends number, B extends number> = [DigitsOf<A, B>] extends [never] ? number : [DigitsOf<A, B>] extends [[infer X, infer Y]] ? FromDigits<AddDigits<X, Y>> : number;
type Minus<A extends number, B extends number> = [DigitsOf<A, B>] extends [never] ? number : [DigitsOf<A, B>] extends [[infer X, infer Y]] ? FromDigits<SubDigits<X, Y>> : number;
type Times<A extends number, B extends number> = [DigitsOf<A, B>] extends [never]
  ? number
  : [DigitsOf<A, B>] extends [[infer X extends unknown[], infer Y extends unknown[]]]
    ? ([...X, ...Y]['length'] extends TooLong ? number : FromDigits<MulDigits<X, Y>>)
    : number;
type Ge<A extends number, B extends number> = [DigitsOf<A, B>] extends [never] ? boolean : [DigitsOf<A, B>] extends [[infer X, infer Y]] ? GeDigits<X, Y> : boolean;
type Div<A extends number, B extends number> = [DigitsOf<A, B>] extends [never]
  ? number
  : [DigitsOf<A, B>] extends [[infer X, infer Y]]
    ? (Trim<Y> extends readonly [] ? number : DivModDigits<X, Y> extends [infer Q, unknown] ? FromDigits<Q> : number)
    : number;
type Mod<A extends number, B extends number> = [DigitsOf<A, B>] extends [never]
  ? number
  : [DigitsOf<A, B>] extends [[infer X, infer Y]]
    ? (Trim<Y> extends readonly [] ? number : DivModDigits<X, Y> extends [unknown, infer R] ? FromDigits<R> : number)
    : number;

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

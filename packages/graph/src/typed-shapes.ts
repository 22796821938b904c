/**
 * The typed builder's shape arithmetic, at the type level only: broadcasting, axes, reductions,
 * slices, element counts and divisibility of literal sizes (decimal arithmetic on digit tuples), and
 * the messages TypeScript prints for a mistake (`{ __error: '...' }` in a parameter's type). The
 * builder (typed-builder.ts) uses them in its signatures; nothing here exists at run time.
 */
import type { DType } from './dtype.ts';
import type { Dim, Shape } from './shape.ts';

/** Shapes that broadcast to S from the right: any suffix of S with any axis replaced by 1. */
export type BroadcastTo<S extends Shape> = number extends S['length']
  ? Shape
  : S extends readonly [infer H extends Dim, ...infer T extends Shape]
    ? readonly [H | 1, ...OrOnes<T>] | BroadcastTo<T>
    : readonly [];
/** S with each axis either its own size or 1. */
export type OrOnes<S extends Shape> = S extends readonly [infer H extends Dim, ...infer T extends Shape] ? readonly [H | 1, ...OrOnes<T>] : readonly [];

/** Numpy broadcasting of two shapes from the right: a 1 takes the other side's size. */
export type Broadcast<A extends Shape, B extends Shape> = number extends A['length'] | B['length']
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
export type Broadcastable<A extends Shape, B extends Shape> = AxesAgree<A, B> extends true ? unknown : { readonly __error: `shapes ${ShowShape<A>} and ${ShowShape<B>} do not broadcast` };
export type AxesAgree<A extends Shape, B extends Shape> = A extends readonly [...infer AH extends Shape, infer AL extends Dim]
  ? B extends readonly [...infer BH extends Shape, infer BL extends Dim]
    ? DimsAgree<AL, BL> extends true
      ? AxesAgree<AH, BH>
      : false
    : true
  : true;
export type DimsAgree<A extends Dim, B extends Dim> = [A] extends [1] ? true : [B] extends [1] ? true : [A] extends [B] ? true : [IsLiteral<A>, IsLiteral<B>] extends [true, true] ? false : true;
export type IsLiteral<X extends Dim> = number extends X ? false : string extends X ? false : true;
export type WithHoles<S extends readonly (Dim | -1)[]> = { readonly [I in keyof S]: S[I] extends -1 ? Dim : S[I] };
export type ToNumber<T> = T extends `${infer N extends number}` ? N : never;
/** The axis numbers of S (0 | 1 | 2 for rank 3); any number when the rank is unknown. */
export type Axis<S extends Shape> = number extends S['length'] ? number : ToNumber<Exclude<keyof S, keyof Shape>>;
/** Axes counted from either end, Python-style (-3 | -2 | -1 | 0 | 1 | 2 for rank 3). */
export type SignedAxis<S extends Shape> = Axis<S> | ToNumber<`-${Exclude<keyof [unknown, ...S], keyof Shape | '0'> & string}`>;
export type Permuted<S extends Shape, P extends readonly number[]> = { readonly [I in keyof P]: S[P[I] & keyof S] };
/** `unknown` when P lists as many axes as S has; else a message that TypeScript shows in its error. */
export type PermLength<S extends Shape, P extends readonly number[]> = number extends S['length']
  ? unknown
  : P['length'] extends S['length']
    ? unknown
    : `transpose: perm must list each of the ${S['length']} axes once, got ${P['length']}`;
/** "[batch, seq, 64]": a shape as TypeScript error messages show it. */
export type ShowShape<S extends Shape> = number extends S['length'] ? 'Shape' : `[${JoinDims<S>}]`;
export type JoinDims<S extends Shape> = S extends readonly [infer H extends Dim, ...infer T extends Shape]
  ? T['length'] extends 0
    ? ShowDim<H>
    : `${ShowDim<H>}, ${JoinDims<T>}`
  : '';
export type ShowDim<D extends Dim> = number extends D ? 'number' : string extends D ? 'string' : `${D}`;
/** A tuple of N unknowns, for arithmetic on axis numbers. */
export type Counter<N extends number, Acc extends unknown[] = []> = Acc['length'] extends N ? Acc : Counter<N, [...Acc, unknown]>;
/** An axis as a non-negative number: -1 is the last axis of a rank-R shape. */
export type NormalAxis<A extends number, R extends number> = `${A}` extends `-${infer N extends number}`
  ? Counter<R> extends [...Counter<N>, ...infer Rest] ? Rest['length'] : never
  : A;
/** S with the given axes set to 1 (keepDims) or removed; unknown when the rank, axes or keepDims are. */
export type Reduced<S extends Shape, A extends readonly number[], K extends boolean> = number extends S['length']
  ? Shape
  : boolean extends K
    ? Shape
    : number extends A[number]
      ? Shape
      : ReduceAxes<S, NormalAxis<A[number], S['length']>, K>;
/** Walks S left to right; `Seen` counts the axes visited, `Out` collects the result. */
export type ReduceAxes<S extends Shape, A extends number, K extends boolean, Seen extends unknown[] = [], Out extends Shape = readonly []> =
  S extends readonly [infer H extends Dim, ...infer T extends Shape]
    ? ReduceAxes<T, A, K, [...Seen, H], Seen['length'] extends A ? (K extends true ? readonly [...Out, 1] : Out) : readonly [...Out, H]>
    : Out;
/** S with the size along one axis unknown (concat). */
export type Resized<S extends Shape, A extends number> = number extends A
  ? { readonly [I in keyof S]: Dim }
  : { readonly [I in keyof S]: I extends `${NormalAxis<A, S['length']>}` ? Dim : S[I] };
/**
 * S sliced along axis A from St to E (null: to the end) by step P, with the size the slice op gives
 * whenever literal bounds fix it: on a literal axis size (Python-style clamping), or on a symbolic axis
 * with bounds of one sign (see the slice op); Dim otherwise (bounds or step that are not literals).
 */
export type Sliced<S extends Shape, A extends number, St extends number, E extends number | null, P extends number> = number extends A
  ? { readonly [I in keyof S]: Dim }
  : { readonly [I in keyof S]: I extends `${NormalAxis<A, S['length']>}` ? SliceSize<S[I], St, E, P> : S[I] };
export type SliceSize<N, St extends number, E extends number | null, P extends number> = [St, E, P] extends [0, null, 1]
  ? N
  : AsDim<SliceSizeOf<N, IntOf<St>, [E] extends [null] ? null : IntOf<E & number>, IntOf<P>>>;
export type SliceSizeOf<N, S, E, P> = S extends [infer SNeg extends boolean, infer SMag extends number]
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
export type Clamp<Neg extends boolean, Mag extends number, N extends number> = Neg extends true
  ? (Ge<N, Mag> extends true ? Minus<N, Mag> : 0)
  : (Ge<Mag, N> extends true ? N : Mag);
export type StaticSlice<S extends number, E extends number, P extends number> = Ge<S, E> extends true ? 0 : CeilDiv<Minus<E, S>, P>;
/** A symbolic axis sliced from the front (0 <= start <= end) or from the back (start < 0, end < 0 or none). */
export type SymbolicSlice<SNeg extends boolean, SMag extends number, E, P extends number> = SNeg extends false
  ? (E extends [false, infer EMag extends number] ? (Ge<EMag, SMag> extends true ? CeilDiv<Minus<EMag, SMag>, P> : Dim) : Dim)
  : E extends null
    ? CeilDiv<SMag, P>
    : E extends [true, infer EMag extends number]
      ? (Ge<SMag, EMag> extends true ? CeilDiv<Minus<SMag, EMag>, P> : Dim)
      : Dim;
export type CeilDiv<A extends number, P extends number> = Div<Plus<A, Minus<P, 1>>, P>;
/** An integer literal as [negative, magnitude] (-3 is [true, 3]); 'none' for number, unions, fractions. */
export type IntOf<X extends number> = number extends X
  ? 'none'
  : IsUnion<X> extends true
    ? 'none'
    : `${X}` extends `-${infer M extends number}`
      ? (IsSize<M> extends true ? [true, M] : 'none')
      : IsSize<X> extends true ? [false, X] : 'none';
/** Whether N is one size literal (512; not number, 'seq', 2 | 3, -1 or 1.5). */
export type IsSize<N> = [N] extends [number] ? ([ToDigits<N & number>] extends [never] ? false : IsUnion<N> extends true ? false : true) : false;
/** Whether N is one symbolic size ('seq', 'batch*seq', or string). */
export type IsSymbol<N> = [N] extends [string] ? (IsUnion<N> extends true ? false : true) : false;
export type IsUnion<T, U = T> = [T] extends [never] ? false : T extends unknown ? ([U] extends [T] ? false : true) : false;
export type AsDim<N> = number extends N ? Dim : N;

/**
 * The dtype and the shape of an elementwise op's operand (a number is a scalar), read from the
 * phantom fields alone, so that a tensor of a generic shape still gives its dtype.
 */
export type DTypeOf<X> = X extends { readonly __dtype: infer D extends DType } ? D : never;
export type ShapeOf<X> = X extends { readonly __shape: infer S extends Shape } ? S : readonly [];
/**
 * `unknown` when the operands a (X) and b (Y) of an elementwise op go together: at least one tensor,
 * one dtype, shapes that broadcast (a size that is not a literal agrees with any). Otherwise b's
 * parameter type carries a message, which TypeScript prints in the one error at b.
 */
export type Elementwise<X, Y> = [X] extends [number]
  ? ([Y] extends [number] ? { readonly __error: 'needs a tensor operand (both are numbers)' } : unknown)
  : [Y] extends [number]
    ? unknown
    : [X, Y] extends [Y, X]
      ? unknown
      : SameDType<DTypeOf<X>, DTypeOf<Y>> extends false
        ? { readonly __error: `dtypes differ (${DTypeOf<X>} and ${DTypeOf<Y>})` }
        : Broadcastable<ShapeOf<X>, ShapeOf<Y>>;
export type SameDType<A extends DType, B extends DType> = [A] extends [B] ? true : [B] extends [A] ? true : false;
/** The result of an elementwise op: a's dtype (b's when a is a number), the shapes broadcast. */
export type ElementwiseDType<X, Y> = [X] extends [number] ? DTypeOf<Y> : DTypeOf<X>;
export type ElementwiseShape<X, Y> = [X] extends [number] ? ShapeOf<Y> : [Y] extends [number] ? ShapeOf<X> : [X, Y] extends [Y, X] ? ShapeOf<X> : Broadcast<ShapeOf<X>, ShapeOf<Y>>;
/** where(cond, a, b): a and b as an elementwise op's operands (or two numbers), then cond against their shape. */
export type WhereOperands<C extends Shape, X, Y> = [X, Y] extends [number, number]
  ? unknown
  : unknown extends Elementwise<X, Y>
    ? Broadcastable<C, ElementwiseShape<X, Y>>
    : Elementwise<X, Y>;
export type WhereDType<X, Y> = [X, Y] extends [number, number] ? 'f32' : ElementwiseDType<X, Y>;
export type WhereShape<C extends Shape, X, Y> = [X, Y] extends [number, number] ? C : Joined<C, ElementwiseShape<X, Y>>;
/**
 * Broadcast<A, B>, or A where the shapes are the same type, so that a generic shape stays itself
 * (boxed: TypeScript defers a check of tuples with generic elements, not of objects holding them).
 */
export type Joined<A extends Shape, B> = [{ s: A }, { s: B }] extends [{ s: B }, { s: A }] ? A : [B] extends [infer S extends Shape] ? Broadcast<A, S> : never;

/** The number of elements of S when every size is a literal (and the product a safe integer), else number. */
export type ElementCount<S extends readonly Dim[], Acc extends number = 1> = number extends Acc
  ? number
  : S extends readonly [infer H, ...infer T extends readonly Dim[]]
    ? (IsSize<H> extends true ? ElementCount<T, Times<Acc, H & number>> : number)
    : number extends S['length'] ? number : Acc;
/** `unknown` when a reshape keeps the number of elements or either count is not known (a symbol, -1); else a message naming both. */
export type SameCount<X extends Shape, S extends Shape> = [ElementCount<X>, ElementCount<S>] extends [infer CX extends number, infer CS extends number]
  ? number extends CX | CS
    ? unknown
    : [CX] extends [CS]
      ? unknown
      : { readonly __error: `reshape: ${ShowShape<X>} has ${CX} elements but ${ShowShape<S>} has ${CS}` }
  : unknown;
/** `unknown` unless Parts and Whole are size literals and Parts does not divide Whole: then the message M. */
export type Divides<Whole, Parts, M extends string> = IsSize<Whole> extends true
  ? IsSize<Parts> extends true
    ? Mod<Whole & number, Parts & number> extends 0
      ? unknown
      : number extends Mod<Whole & number, Parts & number> ? unknown : { readonly __error: M }
    : unknown
  : unknown;
export type HeadsDivide<Op extends string, D, H> = Divides<D, H, `${Op}: D = ${D & number} (the model width) must be divisible by heads = ${H & number}`>;

/**
 * Decimal arithmetic on size literals, digit by digit on tuples with the least significant digit
 * first (512 is [2, 1, 5]), so that sums, products and quotients of sizes in the millions stay cheap
 * to typecheck. The helpers are tail-recursive and take unconstrained arguments (TypeScript would
 * compare each recursive result with a constraint, too deeply).
 */
export type DigitOf = { '0': 0; '1': 1; '2': 2; '3': 3; '4': 4; '5': 5; '6': 6; '7': 7; '8': 8; '9': 9 };
/** The low digit and the carry of a digit sum 0..19. */
export type Low = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
export type High = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
export type TooLong = 16 | 17 | 18 | 19 | 20 | 21 | 22 | 23 | 24 | 25 | 26 | 27 | 28 | 29 | 30 | 31;
/** The digits of a non-negative integer literal of at most 15 digits; never for anything else (number, -3, 1.5, 1e21). */
export type ToDigits<N extends number> = number extends N ? never : ParseDigits<`${N}`>;
export type ParseDigits<S extends string, Acc extends number[] = []> = S extends `${infer C extends keyof DigitOf}${infer R}`
  ? ParseDigits<R, [DigitOf[C], ...Acc]>
  : S extends ''
    ? (Acc['length'] extends 0 | TooLong ? never : Acc)
    : never;
/** The number that digits A spell; number past 15 digits (not always a safe integer). */
export type FromDigits<A> = Trim<A> extends infer T extends unknown[] ? (T['length'] extends TooLong ? number : JoinDigits<T> extends `${infer N extends number}` ? N : number) : number;
export type JoinDigits<A, Out extends string = ''> = A extends readonly [infer H extends number, ...infer T] ? JoinDigits<T, `${H}${Out}`> : Out extends '' ? '0' : Out;
export type Trim<A> = A extends readonly [...infer R, 0] ? Trim<R> : A;
export type Head<A> = A extends readonly [infer H extends number, ...unknown[]] ? H : 0;
export type Tail<A> = A extends readonly [unknown, ...infer T] ? T : [];
export type DigitSum<A extends number, B extends number, C extends number> = [...Counter<A>, ...Counter<B>, ...Counter<C>]['length'];
/** A + B (C: a carry in). */
export type AddDigits<A, B, C extends number = 0, Out extends number[] = []> = [A, B] extends [readonly [], readonly []]
  ? (C extends 0 ? Out : [...Out, C])
  : DigitSum<Head<A>, Head<B>, C> extends infer S extends keyof Low & number
    ? AddDigits<Tail<A>, Tail<B>, High[S], [...Out, Low[S]]>
    : never;
/** A - B, ending in -1 when B > A (a borrow left over). */
export type SubDigits<A, B, Br extends number = 0, Out extends number[] = []> = [A, B] extends [readonly [], readonly []]
  ? (Br extends 0 ? Out : [...Out, -1])
  : [...Counter<Head<A>>, ...Counter<10>] extends [...Counter<Head<B>>, ...Counter<Br>, ...infer R]
    ? R['length'] extends infer D extends keyof Low & number
      ? SubDigits<Tail<A>, Tail<B>, High[D] extends 1 ? 0 : 1, [...Out, Low[D]]>
      : never
    : never;
export type GeDigits<A, B> = SubDigits<A, B> extends readonly [...unknown[], -1] ? false : true;
/** A * D for one digit D, by adding A D times; A * B one digit of B at a time. */
export type MulDigit<A, D extends number, Out = [], I extends unknown[] = []> = I['length'] extends D ? Out : MulDigit<A, D, AddDigits<Out, A>, [...I, unknown]>;
export type MulDigits<A, B, Out = [], Shift extends 0[] = []> = B extends readonly [infer D extends number, ...infer T]
  ? MulDigit<A, D> extends infer P extends unknown[] ? MulDigits<A, T, AddDigits<Out, [...Shift, ...P]>, [...Shift, 0]> : never
  : Out;
/** [quotient, remainder] by long division, most significant digit first. */
export type DivModDigits<A, B, Q extends number[] = [], R = []> = A extends readonly [...infer AH, infer D extends number]
  ? R extends readonly unknown[] ? DivStep<AH, B, Q, Trim<[D, ...R]>> : never
  : [Q, R];
export type DivStep<A, B, Q extends number[], R, N extends unknown[] = []> = GeDigits<R, B> extends true
  ? DivStep<A, B, Q, Trim<SubDigits<R, B>>, [...N, unknown]>
  : DivModDigits<A, B, [N['length'], ...Q], R>;
/** The digits of A and B, or never when either is not a size literal. */
export type DigitsOf<A extends number, B extends number> = [ToDigits<A>, ToDigits<B>] extends [infer X, infer Y] ? ([X] extends [never] ? never : [Y] extends [never] ? never : [X, Y]) : never;
/** A + B, A - B (for A >= B), A * B, A >= B, A / B (rounded down), A % B on size literals; number (boolean) when an argument is not one. */
export type Plus<A extends number, B extends number> = [DigitsOf<A, B>] extends [never] ? number : [DigitsOf<A, B>] extends [[infer X, infer Y]] ? FromDigits<AddDigits<X, Y>> : number;
export type Minus<A extends number, B extends number> = [DigitsOf<A, B>] extends [never] ? number : [DigitsOf<A, B>] extends [[infer X, infer Y]] ? FromDigits<SubDigits<X, Y>> : number;
export type Times<A extends number, B extends number> = [DigitsOf<A, B>] extends [never]
  ? number
  : [DigitsOf<A, B>] extends [[infer X extends unknown[], infer Y extends unknown[]]]
    ? ([...X, ...Y]['length'] extends TooLong ? number : FromDigits<MulDigits<X, Y>>)
    : number;
export type Ge<A extends number, B extends number> = [DigitsOf<A, B>] extends [never] ? boolean : [DigitsOf<A, B>] extends [[infer X, infer Y]] ? GeDigits<X, Y> : boolean;
export type Div<A extends number, B extends number> = [DigitsOf<A, B>] extends [never]
  ? number
  : [DigitsOf<A, B>] extends [[infer X, infer Y]]
    ? (Trim<Y> extends readonly [] ? number : DivModDigits<X, Y> extends [infer Q, unknown] ? FromDigits<Q> : number)
    : number;
export type Mod<A extends number, B extends number> = [DigitsOf<A, B>] extends [never]
  ? number
  : [DigitsOf<A, B>] extends [[infer X, infer Y]]
    ? (Trim<Y> extends readonly [] ? number : DivModDigits<X, Y> extends [unknown, infer R] ? FromDigits<R> : number)
    : number;


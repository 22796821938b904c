import type { BinaryName, CompareName, DType, UnaryName } from '@loom/graph';

/**
 * What a language tells the one expression renderer (render-expr.ts): the spelling of every
 * elementwise op of the op table, literals, selects, casts and how an intermediate value is bound.
 * The tables are keyed by the op table's names, so an op without a spelling in some language is a
 * type error. Languages: JavaScript (cpu), WGSL (webgpu), GLSL ES 1.00 (webgl); the GPU two share
 * their C-like entries (languages/c-like.ts) and the accuracy helpers (helpers.ts).
 */

/** Source for one op: a template over the arguments' source, and the helper functions it calls. */
export interface Spelling<H extends string> {
  readonly code: (...args: string[]) => string;
  readonly helpers?: readonly H[];
}

export interface OpSpelling<H extends string> extends Spelling<H> {
  /** The spelling for i32 arguments, where it differs (integer division). */
  readonly i32?: Spelling<H>;
}

/** A conversion between the dtypes; null where the value is used as it is. */
export type CastName = 'f32->i32' | 'i32->f32';

export interface ExprLanguage<H extends string = string> {
  /** For messages: 'JavaScript', 'WGSL', 'GLSL'. */
  readonly name: string;
  readonly unary: { readonly [K in UnaryName]: OpSpelling<H> };
  readonly binary: { readonly [K in BinaryName]: OpSpelling<H> };
  /** The comparison operators; a comparison yields the i32 literal 1 or 0. */
  readonly compare: { readonly [K in CompareName]: string };
  readonly casts: { readonly [K in CastName]: Spelling<H> | null };
  literal(value: number, dtype: DType): string;
  /** `cond ? ifTrue : ifFalse`, with `cond` a boolean expression. */
  select(cond: string, ifTrue: string, ifFalse: string): string;
  /** The statement giving an intermediate value a name; absent: values nest in one expression. */
  readonly bind?: (name: string, source: string) => string;
  /** Helper functions as source, by name: a kernel includes those its expression calls. */
  readonly helpers: { readonly [K in H]: string };
  /** The backend's own error for an expression it cannot render (the message names the backend). */
  unsupported(op: string, why: string): Error;
}

import type { z } from 'zod';
import type { NDArray, Precision } from './ndarray.ts';
import type { DType } from './dtype.ts';
import type { Shape } from './shape.ts';
import type { TensorType } from './tensor-type.ts';

/** A reference to a node of the graph under construction. */
export type NodeRef = number;

/**
 * What a decomposition may do: add nodes and read their types. GraphBuilder implements it; passes
 * that expand composites wrap it so that nested composites expand too.
 */
export interface OpEmitter {
  add(op: string, inputs: readonly NodeRef[], attrs?: Record<string, unknown>): NodeRef;
  constant(value: number | readonly number[], shape?: Shape, dtype?: DType): NodeRef;
  typeOf(ref: NodeRef): TensorType;
}

/** Thrown by a type rule; the builder wraps it with the op, input types and source location. */
export class TypeRuleError extends Error {}

export function typeRule(condition: unknown, message: string): asserts condition {
  if (!condition) throw new TypeRuleError(message);
}

/**
 * - source: no inputs, yields a value (input, param, constant, range)
 * - elementwise: one output element from the same-index elements of broadcast inputs
 * - primitive: any other op a backend implements directly
 * - composite: a model-level op defined by its decomposition into primitives
 * - fused: made by the compiler's fusion passes; also defined by its decomposition, so the reference
 *   interpreter can check every fused graph
 */
export type OpCategory = 'source' | 'elementwise' | 'primitive' | 'composite' | 'fused';

export interface EvalContext {
  readonly precision: Precision;
  /** Output shape with symbols resolved. */
  readonly outShape: readonly number[];
}

/** One entry of the op table: everything the IR knows about an op, as data. */
export interface OpDef<A = unknown> {
  readonly name: string;
  readonly category: OpCategory;
  readonly summary: string;
  /** Validates and normalizes attributes (defaults filled in). */
  readonly attrs: z.ZodType<A>;
  /** Input names, for messages and docs; the last ones may be optional. */
  readonly inputs: readonly string[];
  readonly minInputs: number;
  /** Variadic ops (concat) accept any number >= minInputs. */
  readonly variadic?: boolean;
  /** The type rule. Throws TypeRuleError when the inputs do not fit. */
  infer(inputs: readonly TensorType[], attrs: A): TensorType;
  /** The reference kernel (any op that is not composite). */
  evaluate?(inputs: readonly NDArray[], attrs: A, ctx: EvalContext): NDArray;
  /** Expansion into simpler ops; required for composites, optional for fusable primitives. */
  decompose?(b: OpEmitter, inputs: readonly NodeRef[], attrs: A): NodeRef;
}

/** Identity that keeps the attribute type tied to its schema. */
export function defineOp<A>(def: OpDef<A>): OpDef<A> {
  return def;
}

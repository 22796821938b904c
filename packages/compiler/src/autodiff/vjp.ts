import type { AttrsOf, GraphNode, NodeRef, OpName } from '@loom/graph';
import type { GradEmitter } from './emit.ts';

/**
 * A vector-Jacobian product rule: given the cotangent of an op's output (d loss / d output), the
 * cotangents of its inputs. Rules emit ordinary ops into the gradient graph, so the backward pass is
 * compiled, fused and memory-planned like any graph.
 */
export interface VjpContext<K extends OpName = OpName> {
  readonly b: GradEmitter;
  /** The forward node (its attributes are `attrs`, typed from the op table). */
  readonly node: GraphNode;
  readonly attrs: AttrsOf<K>;
  /** The forward node's inputs and output, as nodes of the gradient graph (rules may read them: saved activations). */
  readonly inputs: readonly NodeRef[];
  readonly output: NodeRef;
  /** d loss / d output: the output's type. */
  readonly cotangent: NodeRef;
  /** Whether input `i` needs a cotangent (it leads back to a parameter differentiated): rules skip the others' work. */
  needs(i: number): boolean;
}

/**
 * One cotangent per input, each of that input's type; undefined for inputs that get none (integer
 * inputs, inputs `needs` says are not wanted).
 */
export type VjpRule<K extends OpName = OpName> = (ctx: VjpContext<K>) => readonly (NodeRef | undefined)[];

/** Rules keyed by op name; each one's attribute type comes from the op table. */
export type VjpTable = { readonly [K in OpName]?: VjpRule<K> };

import type { DType, GraphNode, OpName } from '@loom/graph';
import type { AttrsOf } from '../op-attrs.ts';

/** A tensor as a GPU renderer sees it: static sizes (the plan's symbols resolved) and a name for messages. */
export interface TensorInfo {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** What to call it in messages: a weight or input name, else `%id`. */
  readonly label: string;
  /**
   * A tensor laid out other than row-major: the element strides of each axis in its texture (an
   * input read through a transpose the device folded into its reader, or an output written as a
   * transpose of itself: webgl/folded-transposes.ts). Absent: contiguous.
   */
  readonly strides?: readonly number[];
  /** With `strides`: the element of the texture where the tensor starts (a folded slice's start). */
  readonly offset?: number;
}

/** What a GPU renderer gets for one step: the node, its attributes typed by the op table, the tensors, the device's limits. */
export interface GpuKernelContext<K extends OpName, Limits> {
  readonly node: GraphNode;
  readonly attrs: AttrsOf<K>;
  readonly inputs: readonly TensorInfo[];
  readonly output: TensorInfo;
  readonly limits: Limits;
}

import { resolveShape, stridesOf, type DimBindings, type Graph, type OpName } from '@loom/graph';
import { viewSource } from '../index-checks.ts';

/**
 * Transposes read as views instead of drawn. Attention's head split (`[B, T, H, D]` to `[B, H, T, D]`
 * for q, k and v, a whole KV cache every decoding step) is a transpose pass on WebGL, a copy of
 * the tensor and a draw each (`loom reverse`: 328 of a call's 910 draws). A renderer that reads an
 * input through strides (TensorInfo.strides) can read the transpose's own input instead: the device
 * gives it that texture and the strides, and the transpose is not drawn.
 *
 * A transpose is folded when every reader of it (through reshapes) is an input such a renderer
 * takes directly, its last axis stays last (the renderers read rows contiguously), and it is no
 * graph output; otherwise it is drawn as before and nothing reads it through a view.
 */

/** The inputs each renderer reads through strides (kernels/attention.ts: q, k and v). */
const VIEW_INPUTS: ReadonlyMap<string, readonly number[]> = new Map<OpName, readonly number[]>([['fused_attention', [0, 1, 2]]]);

/** A folded input: the transpose it reads through, its permutation and its source (the texture read). */
export interface TransposeView {
  readonly transpose: number;
  readonly perm: readonly number[];
  /** The transpose's input as given to it (a reshape of the source, or the source). */
  readonly input: number;
  /** The node whose texture holds it (through reshapes). */
  readonly source: number;
}

export interface FoldedTransposes {
  /** Transpose nodes not drawn. */
  readonly dropped: ReadonlySet<number>;
  /** Per reading node, per input index, the view it reads. */
  readonly views: ReadonlyMap<number, ReadonlyMap<number, TransposeView>>;
}

/** Which of `steps`' transposes (node ids, in order) are folded into their readers. */
export function foldTransposes(graph: Graph, steps: readonly number[]): FoldedTransposes {
  const foldable = new Map<number, { reader: number; input: number }[]>();
  const kept = new Set<number>();
  for (const o of graph.outputs) kept.add(viewSource(graph, o.node));
  for (const id of steps) {
    const node = graph.nodes[id]!;
    node.inputs.forEach((input, index) => {
      const source = viewSource(graph, input);
      if (graph.nodes[source]!.op !== 'transpose') return;
      if (input === source && VIEW_INPUTS.get(node.op)?.includes(index)) foldable.set(source, [...(foldable.get(source) ?? []), { reader: id, input: index }]);
      else kept.add(source);
    });
  }
  const dropped = new Set<number>();
  const views = new Map<number, Map<number, TransposeView>>();
  for (const [transpose, readers] of foldable) {
    const node = graph.nodes[transpose]!;
    const perm = node.attrs['perm'] as readonly number[];
    if (kept.has(transpose) || perm[perm.length - 1] !== perm.length - 1) continue;
    dropped.add(transpose);
    const view: TransposeView = { transpose, perm, input: node.inputs[0]!, source: viewSource(graph, node.inputs[0]!) };
    for (const { reader, input } of readers) views.set(reader, (views.get(reader) ?? new Map()).set(input, view));
  }
  return { dropped, views };
}

/** A view's strides for these symbol values: axis a of the transpose's output steps as axis perm[a] of its input. */
export function viewStrides(graph: Graph, view: TransposeView, bindings: DimBindings): number[] {
  const inputStrides = stridesOf(resolveShape(graph.nodes[view.input]!.type.shape, bindings));
  return view.perm.map((axis) => inputStrides[axis]!);
}

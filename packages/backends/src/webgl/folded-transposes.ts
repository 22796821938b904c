import { resolveShape, stridesOf, type DimBindings, type Graph, type OpName } from '@loom/graph';
import { viewSource } from '../index-checks.ts';

/**
 * Transposes read as views instead of drawn. Attention's head split (`[B, T, H, D]` to `[B, H, T, D]`
 * for q, k and v, a whole KV cache every decoding step) is a transpose pass on WebGL, a copy of
 * the tensor and a draw each (`loom reverse`: 328 of a call's 910 draws). A renderer that reads an
 * input through strides (TensorInfo.strides) can read the transpose's own input instead: the device
 * gives it that texture and the strides, and the transpose is not drawn.
 *
 * A transpose is folded when every reader of it is an input such a renderer takes directly (or
 * through reshapes that only insert axes of extent 1: grouped-query attention's kv heads,
 * [B, KV, Tk, D] read as [B, KV, 1, Tk, D]), its last axis stays last (the renderers read rows
 * contiguously), and it is no graph output; otherwise it is drawn as before and nothing reads it
 * through a view.
 *
 * A head split's input may itself be a slice of the last axis (GPT-2's q, k and v cut from one
 * projection) that only the split reads: the view then reads the slice's input at the slice's
 * offset, and the slice is not drawn either.
 *
 * The other way round, the merge of the heads after attention: a transpose whose input is a step
 * only it reads, of a renderer that writes its result in any axis order (output strides), is drawn
 * by that step, which writes the transpose's value directly.
 */

/** Renderers that write their result through strides (kernels/attention.ts's softmax x v pass). */
const STRIDED_WRITERS: ReadonlySet<string> = new Set<OpName>(['fused_attention']);

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
  /** The reader's input when it is a reshape of the transpose that only inserts axes of extent 1. */
  readonly unitReshape?: number;
  /** A slice of the last axis, step 1, the transpose's input is (or splits the last axis of): read at its offset, not drawn. */
  readonly slice?: number;
}

/** A transpose a step writes in place of its own result: the step's value is the transpose's. */
export interface TransposedWrite {
  readonly transpose: number;
  readonly perm: readonly number[];
}

export interface FoldedTransposes {
  /** Transpose nodes not drawn. */
  readonly dropped: ReadonlySet<number>;
  /** Per reading node, per input index, the view it reads. */
  readonly views: ReadonlyMap<number, ReadonlyMap<number, TransposeView>>;
  /** Per writing node, the transpose it writes. */
  readonly writes: ReadonlyMap<number, TransposedWrite>;
}

/** Which of `steps`' transposes (node ids, in order) are folded into their readers. */
export function foldTransposes(graph: Graph, steps: readonly number[]): FoldedTransposes {
  const foldable = new Map<number, { reader: number; input: number; unitReshape?: number }[]>();
  const kept = new Set<number>();
  const outputs = new Set(graph.outputs.map((o) => viewSource(graph, o.node)));
  for (const id of outputs) kept.add(id);
  // every step's readers, through reshapes (a step read directly by a transpose is written by it)
  const readersOf = new Map<number, { reader: number; direct: boolean }[]>();
  for (const id of steps) {
    const node = graph.nodes[id]!;
    node.inputs.forEach((input, index) => {
      const source = viewSource(graph, input);
      readersOf.set(source, [...(readersOf.get(source) ?? []), { reader: id, direct: input === source }]);
      if (graph.nodes[source]!.op !== 'transpose') return;
      const unitReshape = input !== source && onlyInsertsUnitAxes(graph, input, source) ? input : undefined;
      if ((input === source || unitReshape !== undefined) && VIEW_INPUTS.get(node.op)?.includes(index)) {
        foldable.set(source, [...(foldable.get(source) ?? []), { reader: id, input: index, ...(unitReshape !== undefined ? { unitReshape } : {}) }]);
      } else kept.add(source);
    });
  }
  const dropped = new Set<number>();
  const views = new Map<number, Map<number, TransposeView>>();
  for (const [transpose, readers] of foldable) {
    const node = graph.nodes[transpose]!;
    const perm = node.attrs['perm'] as readonly number[];
    if (kept.has(transpose) || !keepsLastAxis(perm)) continue;
    dropped.add(transpose);
    const slice = foldableSlice(graph, transpose, readersOf, outputs);
    if (slice !== undefined) dropped.add(slice);
    const source = viewSource(graph, slice !== undefined ? graph.nodes[slice]!.inputs[0]! : node.inputs[0]!);
    const view: TransposeView = { transpose, perm, input: node.inputs[0]!, source, ...(slice !== undefined ? { slice } : {}) };
    for (const { reader, input, unitReshape } of readers) views.set(reader, (views.get(reader) ?? new Map()).set(input, unitReshape !== undefined ? { ...view, unitReshape } : view));
  }
  const writes = new Map<number, TransposedWrite>();
  const stepSet = new Set(steps);
  for (const id of steps) {
    const node = graph.nodes[id]!;
    if (node.op !== 'transpose' || dropped.has(id)) continue;
    const writer = node.inputs[0]!;
    const perm = node.attrs['perm'] as readonly number[];
    const only = readersOf.get(writer);
    const alone = only?.length === 1 && only[0]!.reader === id && only[0]!.direct;
    if (!alone || !STRIDED_WRITERS.has(graph.nodes[writer]!.op) || outputs.has(writer) || !stepSet.has(writer) || !keepsLastAxis(perm)) continue;
    dropped.add(id);
    writes.set(writer, { transpose: id, perm });
  }
  return { dropped, views, writes };
}

/** Whether a permutation keeps the last axis last (the renderers read and write rows contiguously). */
function keepsLastAxis(perm: readonly number[]): boolean {
  return perm[perm.length - 1] === perm.length - 1;
}

/** The strides a writer writes its result with: axis perm[a] of its result is axis a of the transpose's. */
export function writeStrides(graph: Graph, write: TransposedWrite, bindings: DimBindings): number[] {
  const transposed = stridesOf(resolveShape(graph.nodes[write.transpose]!.type.shape, bindings));
  const strides = new Array<number>(write.perm.length);
  write.perm.forEach((axis, a) => (strides[axis] = transposed[a]!));
  return strides;
}

/**
 * A view's strides for these symbol values: axis a of the transpose's output steps as axis perm[a]
 * of its input; through a unit-axis reshape, its axes of extent above 1 take those strides in order
 * and its axes of extent 1 (read at 0) stride 0.
 */
export function viewStrides(graph: Graph, view: TransposeView, bindings: DimBindings): number[] {
  const inputStrides = transposeInputStrides(graph, view, bindings);
  const strides = view.perm.map((axis) => inputStrides[axis]!);
  if (view.unitReshape === undefined) return strides;
  const transposed = resolveShape(graph.nodes[view.transpose]!.type.shape, bindings);
  const wide = transposed.flatMap((extent, a) => (extent === 1 ? [] : [strides[a]!]));
  let next = 0;
  return resolveShape(graph.nodes[view.unitReshape]!.type.shape, bindings).map((extent) => (extent === 1 ? 0 : wide[next++]!));
}

/** Where a view's first element lies in its source's texture: a folded slice's start (0 without one). */
export function viewOffset(graph: Graph, view: TransposeView, bindings: DimBindings): number {
  if (view.slice === undefined) return 0;
  const slice = graph.nodes[view.slice]!;
  const from = resolveShape(graph.nodes[slice.inputs[0]!]!.type.shape, bindings);
  return Math.min(slice.attrs['start'] as number, from[from.length - 1]!);
}

/** The strides of the transpose's input in the source's texture: contiguous, or a slice's (its rows the source's), its last axis perhaps split in two. */
function transposeInputStrides(graph: Graph, view: TransposeView, bindings: DimBindings): number[] {
  const shape = resolveShape(graph.nodes[view.input]!.type.shape, bindings);
  if (view.slice === undefined) return stridesOf(shape);
  const sliced = stridesOf(resolveShape(graph.nodes[graph.nodes[view.slice]!.inputs[0]!]!.type.shape, bindings));
  return shape.length === sliced.length ? sliced : [...sliced.slice(0, -1), shape[shape.length - 1]!, 1];
}

/**
 * The slice the transpose reads (directly, or through a reshape splitting the last axis in two)
 * when it can be read in place: of its input's last axis, a literal extent, from a start >= 0 with
 * step 1, read by nothing else and no output.
 */
function foldableSlice(graph: Graph, transpose: number, readersOf: ReadonlyMap<number, readonly { reader: number }[]>, outputs: ReadonlySet<number>): number | undefined {
  const input = graph.nodes[transpose]!.inputs[0]!;
  const id = viewSource(graph, input);
  const slice = graph.nodes[id]!;
  if (slice.op !== 'slice' || outputs.has(id)) return undefined;
  const readers = readersOf.get(id) ?? [];
  if (readers.length !== 1 || readers[0]!.reader !== transpose) return undefined;
  const from = graph.nodes[slice.inputs[0]!]!.type.shape;
  const axis = slice.attrs['axis'] as number;
  if ((axis !== -1 && axis !== from.length - 1) || typeof from[from.length - 1] !== 'number' || (slice.attrs['start'] as number) < 0 || slice.attrs['step'] !== 1) return undefined;
  if (input === id) return id;
  // one reshape, splitting the slice's last axis into two
  const reshape = graph.nodes[input]!;
  const [cut, split] = [slice.type.shape, reshape.type.shape];
  const last = cut[cut.length - 1];
  const splitsLast = reshape.inputs[0] === id && split.length === cut.length + 1 && cut.slice(0, -1).every((d, a) => d === split[a]) && typeof last === 'number' && split.slice(-2).every((d) => typeof d === 'number') && (split[split.length - 2] as number) * (split[split.length - 1] as number) === last;
  return splitsLast ? id : undefined;
}

/** Whether `reshape` (through a chain of reshapes) is `transpose` with axes of extent 1 inserted, and nothing else. */
function onlyInsertsUnitAxes(graph: Graph, reshape: number, transpose: number): boolean {
  const wide = (shape: readonly (number | string)[]) => shape.filter((d) => d !== 1);
  const from = wide(graph.nodes[transpose]!.type.shape);
  const to = wide(graph.nodes[reshape]!.type.shape);
  return from.length === to.length && from.every((d, a) => d === to[a]);
}

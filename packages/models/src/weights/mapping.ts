/**
 * Renaming checkpoints into Loom's weight names, as data: a mapping says, for each Loom weight, which
 * checkpoint tensor holds it and how (as is, transposed, or one slice of a stacked tensor). Applying
 * a mapping checks everything first and reports every problem in one WeightsError.
 */
import { formatShape, graphParams, nodeName, sizeOf, type Graph, type NDArray, type Storage } from '@loom/graph';
import { WeightsError, type MisshapedTensor } from './weights-error.ts';

/** Where one Loom weight comes from. */
export interface Source {
  /** The checkpoint tensor's name. */
  readonly name: string;
  /** The checkpoint stores the matrix [out, in] (PyTorch Linear) while Loom stores [in, out]. */
  readonly transpose?: boolean;
  /**
   * The weight is part `index` of `count` pieces stacked along axis 0 (PyTorch's in_proj_weight =
   * Wq; Wk; Wv): equal pieces, or of `sizes` rows each (Phi-3's qkv_proj: H Dh, KV Dh, KV Dh rows).
   * With `groups` the stack repeats per group and each part takes its rows from every group: GPT-NeoX's
   * query_key_value is [H, 3, Dh] rows, q being rows 0..Dh of each head's 3 Dh.
   */
  readonly part?: Part;
  /** The checkpoint holds the same values in this shape (Marian's final_logits_bias [1, V] for a [V] bias). */
  readonly shape?: readonly number[];
  /**
   * The weight [E, ...] stacks these checkpoint tensors, one per index of its first axis, each as
   * is or transposed (Mixtral's experts.{e}.w1.weight [F, D] as Loom's [E, D, F]); `name` is then
   * the first of them (for messages).
   */
  readonly stack?: readonly string[];
}

export interface Part {
  readonly index: number;
  readonly count: number;
  readonly sizes?: readonly number[];
  readonly groups?: number;
}

/** A part's rows within one group of its stacked tensor: [start, end). */
function partRows(part: Part, rowsPerGroup: number): [number, number] {
  const sizes = part.sizes ?? new Array<number>(part.count).fill(rowsPerGroup / part.count);
  const start = sizes.slice(0, part.index).reduce((a, b) => a + b, 0);
  return [start, start + sizes[part.index]!];
}

/** A mapping: the source of a Loom weight (undefined: the mapping does not know the name), and the checkpoint names to skip silently. */
export interface WeightMapping {
  readonly describe: string;
  sourceOf(loomName: string): Source | undefined;
  ignore(checkpointName: string): boolean;
}

/** Loom's own names: every weight is stored under its Loom name, as is. */
export const identityMapping: WeightMapping = {
  describe: 'Loom names',
  sourceOf: (name) => ({ name }),
  ignore: () => false,
};

/** The name, dtype and shape of every param of the graphs (the weights a model needs). */
export function expectedWeights(...graphs: Graph[]): Map<string, readonly number[]> {
  const out = new Map<string, readonly number[]>();
  for (const g of graphs) {
    for (const node of graphParams(g)) {
      out.set(nodeName(node)!, node.type.shape.map((d) => (typeof d === 'number' ? d : NaN)));
    }
  }
  return out;
}

interface Link {
  readonly source: string;
  readonly transpose: boolean;
  readonly count: number;
  /** Parts by index (their sizes and groups); absent for a whole tensor. */
  readonly parts: (Part | undefined)[];
  /** Loom names by part index. */
  readonly targets: (string | undefined)[];
  /** The shape each target must have. */
  readonly targetShape: readonly number[];
  /** The checkpoint's shape when it only differs from the target's by unit axes. */
  readonly storedShape?: readonly number[];
}

/**
 * Converts a checkpoint into Loom-named weights for a model that needs `expected`. Throws one
 * WeightsError listing every missing, unexpected and mis-shaped checkpoint tensor.
 */
export function applyMapping(checkpoint: ReadonlyMap<string, NDArray>, expected: ReadonlyMap<string, readonly number[]>, mapping: WeightMapping, sourceName = 'checkpoint'): Map<string, NDArray> {
  const links = new Map<string, Link>();
  const problems = { missing: [] as string[], unexpected: [] as string[], misshaped: [] as MisshapedTensor[] };
  const weights = new Map<string, NDArray>();
  const stacked = new Set<string>();
  for (const [loomName, shape] of expected) {
    const src = mapping.sourceOf(loomName);
    if (!src) {
      problems.missing.push(loomName);
      continue;
    }
    if (src.stack) {
      for (const name of src.stack) stacked.add(name);
      const stack = stackTensors(checkpoint, src, shape, problems);
      if (stack) weights.set(loomName, stack);
      continue;
    }
    const count = src.part?.count ?? 1;
    let link = links.get(src.name);
    if (!link) {
      link = { source: src.name, transpose: src.transpose ?? false, count, parts: [], targets: [], targetShape: shape, ...(src.shape ? { storedShape: src.shape } : {}) };
      links.set(src.name, link);
    }
    link.targets[src.part?.index ?? 0] = loomName;
    link.parts[src.part?.index ?? 0] = src.part;
  }

  for (const link of links.values()) {
    const tensor = checkpoint.get(link.source);
    const want = sourceShape(link);
    if (!tensor) {
      problems.missing.push(link.source);
    } else if (tensor.dtype !== 'f32' || tensor.shape.length !== want.length || tensor.shape.some((d, i) => d !== want[i])) {
      problems.misshaped.push({ name: link.source, expected: `f32${formatShape(want)}`, actual: `${tensor.dtype}${formatShape(tensor.shape)}` });
    } else {
      link.targets.forEach((name, index) => {
        if (name !== undefined) weights.set(name, convert(tensor, link, index));
      });
    }
  }
  for (const name of checkpoint.keys()) {
    if (!links.has(name) && !stacked.has(name) && !mapping.ignore(name)) problems.unexpected.push(name);
  }
  if (problems.missing.length + problems.unexpected.length + problems.misshaped.length > 0) {
    throw new WeightsError(problems.missing, problems.unexpected, problems.misshaped, sourceName);
  }
  return weights;
}

/** A stacked weight [E, ...] from its E checkpoint tensors (each checked), or undefined with the problems noted. */
function stackTensors(checkpoint: ReadonlyMap<string, NDArray>, src: Source, shape: readonly number[], problems: { missing: string[]; misshaped: MisshapedTensor[] }): NDArray | undefined {
  const piece = shape.slice(1);
  const stored = src.transpose ? [...piece].reverse() : piece;
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let ok = true;
  src.stack!.forEach((name, e) => {
    const t = checkpoint.get(name);
    if (!t) {
      problems.missing.push(name);
      ok = false;
    } else if (t.dtype !== 'f32' || t.shape.length !== stored.length || t.shape.some((d, i) => d !== stored[i])) {
      problems.misshaped.push({ name, expected: `f32${formatShape(stored)}`, actual: `${t.dtype}${formatShape(t.shape)}` });
      ok = false;
    } else {
      const size = sizeOf(piece);
      data.set(src.transpose ? transposed(t).data : t.data, e * size);
    }
  });
  return ok && src.stack!.length === shape[0] ? { dtype: 'f32', shape: [...shape], data } : undefined;
}

/** The checkpoint's shape for a link: the Loom shape, transposed back, times the number of stacked parts. */
function sourceShape(link: Link): number[] {
  if (link.storedShape) return [...link.storedShape];
  const piece = link.transpose ? [...link.targetShape].reverse() : [...link.targetShape];
  const part = link.parts.find((p) => p !== undefined);
  if (part?.sizes) piece[0] = part.sizes.reduce((a, b) => a + b, 0) * (part.groups ?? 1);
  else if (link.count > 1) piece[0] = piece[0]! * link.count;
  return piece;
}

function convert(tensor: NDArray, link: Link, index: number): NDArray {
  if (link.storedShape) return { dtype: 'f32', shape: [...link.targetShape], data: tensor.data };
  const part = link.parts[index];
  const rest = tensor.shape.slice(1);
  const width = sizeOf(rest);
  let piece: Storage;
  let rows: number;
  if (!part) {
    piece = tensor.data;
    rows = tensor.shape[0]!;
  } else {
    // the part's rows of every group, in group order
    const groups = part.groups ?? 1;
    const perGroup = tensor.shape[0]! / groups;
    const [start, end] = partRows(part, perGroup);
    rows = (end - start) * groups;
    piece = new (tensor.data.constructor as new (n: number) => Storage)(rows * width);
    for (let g = 0; g < groups; g++) piece.set(tensor.data.subarray((g * perGroup + start) * width, (g * perGroup + end) * width), g * (end - start) * width);
  }
  const shape = [rows, ...rest];
  // whole tensors are shared with the checkpoint (no copy of a 600 MB table); pieces are copies
  if (!link.transpose) return { dtype: 'f32', shape, data: piece };
  // [rows, cols] -> [cols, rows]
  const cols = width;
  const out = new (piece.constructor as new (n: number) => Storage)(piece.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = piece[r * cols + c]!;
  return { dtype: 'f32', shape: [cols, rows], data: out };
}

/**
 * The inverse of applyMapping: Loom-named tensors (weights, or gradients with respect to them)
 * under the checkpoint's names and in its layout (transposed back, stacked parts joined), so that
 * what Loom computes can be saved as, or compared with, the checkpoint's own tensors. Every part of
 * a stacked tensor must be given; a name the mapping does not know is an error.
 */
export function toCheckpointNames(tensors: ReadonlyMap<string, NDArray>, mapping: WeightMapping): Map<string, NDArray> {
  const groups = new Map<string, { source: Source; parts: (NDArray | undefined)[] }>();
  const out = new Map<string, NDArray>();
  for (const [loomName, tensor] of tensors) {
    const source = mapping.sourceOf(loomName);
    if (!source) throw new WeightsError([loomName], [], [], mapping.describe);
    if (source.stack) {
      // a stacked weight goes back to its checkpoint tensors, one per expert
      const size = sizeOf(tensor.shape.slice(1));
      source.stack.forEach((name, e) => {
        const piece: NDArray = { dtype: 'f32', shape: tensor.shape.slice(1), data: tensor.data.slice(e * size, (e + 1) * size) };
        out.set(name, source.transpose ? transposed(piece) : piece);
      });
      continue;
    }
    const group = groups.get(source.name) ?? { source, parts: [] };
    group.parts[source.part?.index ?? 0] = tensor;
    groups.set(source.name, group);
  }
  for (const [name, { source, parts }] of groups) {
    const count = source.part?.count ?? 1;
    const pieces: NDArray[] = [];
    for (let i = 0; i < count; i++) {
      const part = parts[i];
      if (!part) throw new WeightsError([`${name} (part ${i + 1} of ${count})`], [], [], mapping.describe);
      pieces.push(source.transpose ? transposed(part) : part);
    }
    const data = new Float32Array(pieces.reduce((n, p) => n + p.data.length, 0));
    // each group holds every part's rows of that group, parts in order
    const groups = source.part?.groups ?? 1;
    const width = pieces[0]!.shape.length > 1 ? sizeOf(pieces[0]!.shape.slice(1)) : 1;
    let offset = 0;
    for (let g = 0; g < groups; g++) {
      for (const p of pieces) {
        const rows = p.data.length / width / groups;
        data.set(p.data.subarray(g * rows * width, (g + 1) * rows * width), offset);
        offset += rows * width;
      }
    }
    const rows = pieces.reduce((n, p) => n + p.shape[0]!, 0);
    const shape = source.shape ? [...source.shape] : [rows, ...pieces[0]!.shape.slice(1)];
    out.set(name, { dtype: 'f32', shape, data });
  }
  return out;
}

/** A matrix [rows, cols] as [cols, rows] (vectors as they are): PyTorch's and GGUF's [out, in] as Loom's [in, out]. */
export function transposed(t: NDArray): NDArray {
  if (t.shape.length !== 2) return t;
  const [rows, cols] = [t.shape[0]!, t.shape[1]!];
  const data = new Float32Array(t.data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[c * rows + r] = t.data[r * cols + c]!;
  return { dtype: 'f32', shape: [cols, rows], data };
}

import type { Backend, PreparedModel } from '@loom/backends';
import { graphParams, nodeName, type Graph, type NDArray, type Weights } from '@loom/graph';
import { ModelInputError } from '../errors.ts';

/**
 * One graph on one backend with its weights, prepared on first use and kept: decoding calls `run`
 * once per token, and compiling or uploading weights each time would dominate. Model code never
 * names a backend; whatever `getBackend` returns plugs in here.
 */
export class GraphRunner {
  private prepared: Promise<PreparedModel> | undefined;

  constructor(
    readonly backend: Backend,
    readonly graph: Graph,
    private readonly weights: Weights,
  ) {}

  async run(feeds: Readonly<Record<string, NDArray>>): Promise<Record<string, NDArray>> {
    this.prepared ??= this.backend.prepare(this.graph, weightsOf(this.graph, this.weights));
    return (await this.prepared).run(feeds);
  }

  /** Frees the backend's resources; the next run prepares again. */
  async dispose(): Promise<void> {
    const prepared = this.prepared;
    this.prepared = undefined;
    if (prepared) (await prepared).dispose();
  }
}

/** Only the weights the graph declares (a decoder graph does not need the encoder's). */
function weightsOf(graph: Graph, all: Weights): Weights {
  const out = new Map<string, NDArray>();
  for (const node of graphParams(graph)) {
    const name = nodeName(node)!;
    const w = all.get(name);
    if (w) out.set(name, w);
  }
  return out;
}

/**
 * Rows of different lengths as one [B, T] i32 batch, right-padded with `pad`, and its 1/0 keep mask.
 * T is the longest row, or what `widthFor` makes of it (a backend's sequence bucket: `bucketedWidth`).
 */
export function padBatch(rows: readonly (readonly number[])[], pad: number, widthFor: (longest: number) => number = (n) => n): { ids: NDArray; mask: NDArray; lengths: number[] } {
  const lengths = rows.map((r) => r.length);
  // a loop, not Math.max(...lengths): spreading a million rows overflows the call stack
  const longest = lengths.reduce((most, l) => Math.max(most, l), 1);
  const width = Math.max(longest, widthFor(longest));
  const ids = new Int32Array(rows.length * width).fill(pad);
  const mask = new Int32Array(rows.length * width);
  rows.forEach((row, b) => {
    ids.set(row, b * width);
    mask.fill(1, b * width, b * width + row.length);
  });
  const shape = [rows.length, width];
  return { ids: { dtype: 'i32', shape, data: ids }, mask: { dtype: 'i32', shape, data: mask }, lengths };
}

/**
 * The batch width for `backend`: its sequence bucket for the longest row (a backend that builds
 * kernels per size: see Backend.sequenceBucket), at most `limit` (the model's positions), else the
 * longest row itself.
 */
export function bucketedWidth(backend: Backend, limit: number): (longest: number) => number {
  return (longest) => Math.max(longest, Math.min(limit, backend.sequenceBucket?.(longest) ?? longest));
}

/** Row `b` of an [B, ..., V] array's last axis at flat position `index` along the middle axes. */
export function rowOf(logits: NDArray, b: number, index = 0): Float32Array {
  const v = logits.shape[logits.shape.length - 1]!;
  const perRow = logits.data.length / logits.shape[0]!;
  const start = b * perRow + index * v;
  return Float32Array.from(logits.data.subarray(start, start + v));
}

/** Rows `order[0], order[1], ...` of an array's axis 0. */
export function pickRows(value: NDArray, order: readonly number[]): NDArray {
  const rowSize = value.data.length / value.shape[0]!;
  const data = value.dtype === 'i32' ? new Int32Array(order.length * rowSize) : new Float32Array(order.length * rowSize);
  order.forEach((from, r) => data.set(value.data.subarray(from * rowSize, (from + 1) * rowSize), r * rowSize));
  return { dtype: value.dtype, shape: [order.length, ...value.shape.slice(1)], data };
}

/** An input of `batch` rows: as given, or its one row repeated (one source for all its beams). */
export function withRows(name: string, value: NDArray, batch: number): NDArray {
  const rows = value.shape[0];
  if (rows === batch) return value;
  if (rows === 1) return pickRows(value, new Array<number>(batch).fill(0));
  throw new ModelInputError(`decoder input '${name}' has ${rows} rows for a batch of ${batch}`);
}

import { StateStore, type Backend, type PreparedModel } from '@loom/backends';
import { graphParams, nodeName, stateNames, type Graph, type NDArray, type Weights } from '@loom/graph';
import { ModelInputError } from '../errors.ts';
import { checkTokenRows } from '../runtime/check-ids.ts';
import { bucketedWidth, padBatch, pickRows, rowOf, withRows } from '../runtime/graph-runner.ts';
import type { StepDecoder } from './step.ts';

/**
 * A model's KV-cache graphs: `build(seq)` gives the graph for `seq` new tokens per row ('seq' for a
 * prefill, 1 for a decode step), with inputs input_ids [B, T], position [B], last_index [B] and its
 * caches as states, and output logits [B, 1, V] (GPT-2's buildCachedGpt2, Llama's buildCachedLlama,
 * the encoder-decoder's buildCachedTransformerDecoder, which also takes context inputs).
 */
export interface CachedPlans {
  readonly vocabSize: number;
  /** The caches' capacity: the longest a row may grow. */
  readonly maxPositions: number;
  build(seq: 'seq' | 1): Graph;
  /**
   * Whether a prompt may be padded past its batch's longest row, to a backend's sequence bucket
   * (webgl): true for the families' graphs, which read each row at its last_index and write rings by
   * each row's count. A graph of the user's own is padded only as a batch needs (as before).
   */
  readonly bucketed?: boolean;
}

const PAD = 0;

const i32 = (shape: number[], values: ArrayLike<number>): NDArray => ({ dtype: 'i32', shape, data: Int32Array.from(values) });

/**
 * Fixed inputs every run takes besides the tokens, one row per batch row (an encoder-decoder's
 * source ids and cross-attention keys and values); computed once, at prefill.
 */
export type DecoderContext = () => Promise<Readonly<Record<string, NDArray>>>;

/**
 * Decoding with a key/value cache: a prefill plan (T = the prompt) fills the cache, then a
 * decode plan (T = 1) feeds one token per row per step. The two plans share one StateStore, so the
 * cache stays inside the backend; each step costs the same whatever the position. A context given
 * as one row serves every row (the K beams of one source).
 */
export class KvCacheDecoder implements StepDecoder {
  private readonly state = new StateStore();
  private prefillModel: Promise<PreparedModel> | undefined;
  private decodeModel: Promise<PreparedModel> | undefined;
  private positions: number[] = [];
  private cacheNames: readonly string[] | undefined;
  private contextInputs: Record<string, NDArray> = {};

  constructor(
    readonly plans: CachedPlans,
    private readonly weights: Weights,
    readonly backend: Backend,
    private context?: DecoderContext,
  ) {}

  /**
   * Starts afresh for another decoding (a DecoderPool lending it out again): the caches (their arrays
   * too), the rows and the context are forgotten and `context` is the next prefill's; the prepared
   * plans stay, which is the point.
   */
  reset(context?: DecoderContext): void {
    this.state.clear();
    this.positions = [];
    this.contextInputs = {};
    this.context = context;
  }

  /**
   * Prepares both plans now (compilation and, on the cpu, weight packing), so that the first token
   * costs what later ones do; otherwise each is prepared on first use.
   */
  async prepare(): Promise<void> {
    this.prefillModel ??= this.preparePlan('seq');
    this.decodeModel ??= this.preparePlan(1);
    await Promise.all([this.prefillModel, this.decodeModel]);
  }

  async prefill(prefixes: readonly (readonly number[])[]): Promise<Float32Array[]> {
    checkTokenRows(prefixes, this.plans.vocabSize, this.plans.maxPositions, 'prompt');
    if (prefixes.some((p) => p.length === 0)) throw new ModelInputError('every prompt needs at least one token');
    const batch = prefixes.length;
    // the context first: a plan prepared meanwhile would reject unobserved if the context failed
    this.contextInputs = this.context ? mapValues(await this.context(), (name, value) => withRows(name, value, batch)) : {};
    this.prefillModel ??= this.preparePlan('seq');
    this.state.clear({ reuse: true });
    // padded to the backend's sequence bucket (webgl: prompts of 9 to 16 tokens share one prefill's shaders)
    const { ids, lengths } = padBatch(prefixes, PAD, this.plans.bucketed ? bucketedWidth(this.backend, this.plans.maxPositions) : undefined);
    const out = await (await this.prefillModel).run({ ...this.contextInputs, input_ids: ids, position: i32([batch], new Array(batch).fill(0)), last_index: i32([batch], lengths.map((l) => l - 1)) });
    this.positions = lengths;
    return prefixes.map((_, b) => rowOf(out['logits']!, b));
  }

  async step(tokens: readonly number[]): Promise<Float32Array[]> {
    checkTokenRows([tokens], this.plans.vocabSize, Infinity, 'step');
    const full = this.positions.findIndex((p) => p >= this.plans.maxPositions);
    if (full >= 0) throw new ModelInputError(`row ${full + 1} reached the model's ${this.plans.maxPositions} positions`);
    this.decodeModel ??= this.preparePlan(1);
    const batch = tokens.length;
    const out = await (await this.decodeModel).run({ ...this.contextInputs, input_ids: i32([batch, 1], tokens), position: i32([batch], this.positions), last_index: i32([batch], new Array(batch).fill(0)) });
    this.positions = this.positions.map((p) => p + 1);
    return tokens.map((_, b) => rowOf(out['logits']!, b));
  }

  /**
   * Row r takes row order[r]'s caches and position. The rows are permuted on the host: a backend that
   * keeps the caches on the GPU downloads them (readState) and uploads the result at the next step.
   * (A state update must be an in-place cache_update, which a permutation of rows is not.)
   */
  async reorder(order: readonly number[]): Promise<void> {
    if (order.length !== this.positions.length) throw new ModelInputError(`reorder needs ${this.positions.length} rows, got ${order.length}`);
    if (order.every((from, r) => from === r)) return;
    const model = await (this.decodeModel ?? this.prefillModel)!;
    this.cacheNames ??= [...stateNames(this.plans.build(1))];
    for (const name of this.cacheNames) this.state.set(name, pickRows(model.readState ? await model.readState(name) : this.state.get(name)!, order));
    this.contextInputs = mapValues(this.contextInputs, (_, value) => pickRows(value, order));
    this.positions = order.map((from) => this.positions[from]!);
  }

  /**
   * Frees both plans and the caches. A plan that failed to prepare has nothing to free: its error
   * went to the call that needed it, and is not thrown again here (where it would replace whatever a
   * `finally` was unwinding), nor does it keep the other plan from being freed.
   */
  async dispose(): Promise<void> {
    const models = [this.prefillModel, this.decodeModel];
    this.prefillModel = undefined;
    this.decodeModel = undefined;
    await Promise.allSettled(models.map(async (model) => (await model)?.dispose()));
    this.state.clear();
  }

  private preparePlan(seq: 'seq' | 1): Promise<PreparedModel> {
    const graph = this.plans.build(seq);
    const weights = new Map<string, NDArray>();
    for (const node of graphParams(graph)) weights.set(nodeName(node)!, this.weights.get(nodeName(node)!)!);
    return this.backend.prepare(graph, weights, { state: this.state });
  }
}


function mapValues(record: Readonly<Record<string, NDArray>>, f: (name: string, value: NDArray) => NDArray): Record<string, NDArray> {
  return Object.fromEntries(Object.entries(record).map(([name, value]) => [name, f(name, value)]));
}

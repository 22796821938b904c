/**
 * Any graph that follows the KV-cache convention as a CausalLm: generate, sample, beam search and
 * stream with it exactly as with the families' models (MODELS.md, "Decoding your own graph").
 *
 * The convention (what blocks.ts' decodeStepInputs builds, and every family's cached graph follows):
 *   inputs  input_ids i32 [batch, T]   the new tokens of each row (T = 'seq' at prefill, 1 per step)
 *           position  i32 [batch]      where each row's new tokens start (their rotary offset, cache slot)
 *           last_index i32 [batch]     which of the T positions' logits to return (a row's last real token)
 *           states                     the caches, inputs also output under the same name, written
 *                                      with cacheUpdate (plans update them in place)
 *   output  logits f32 [batch, 1, V]
 * One graph with a symbolic T serves the prefill and the steps; a model whose prefill and steps
 * differ (a sliding window's ring: windowKeysValues) gives both. A full-sequence graph (input_ids
 * -> logits [batch, T, V]) is optional: `logits()` needs it.
 */
import type { Backend } from '@loom/backends';
import { graphInputs, stateNames, type Graph, type NDArray, type Weights } from '@loom/graph';
import type { CausalLm } from '../decoding/causal-lm.ts';
import { logitsRowBytes, weightBytes, type DecodingBytes } from '../decoding/decoding-budget.ts';
import { DecoderPool } from '../decoding/decoder-pool.ts';
import { KvCacheDecoder, type CachedPlans } from '../decoding/kv-cache-decoder.ts';
import { RecomputeDecoder, type StepDecoder } from '../decoding/step.ts';
import { ConfigError, ModelInputError } from '../errors.ts';
import { checkTokenRows } from '../runtime/check-ids.ts';
import { GraphRunner, padBatch } from '../runtime/graph-runner.ts';

export interface GraphCausalLmOptions {
  readonly backend: Backend;
  /** The longest a row may grow (prompt and new tokens); default: the caches' capacity (their axis 1), when they all share one. */
  readonly maxPositions?: number;
  /** Generation stops at this token unless told otherwise. */
  readonly eosTokenId?: number | null;
  /** The full-sequence graph (input_ids [batch, T] -> logits [batch, T, V]), for `logits()`. */
  readonly full?: Graph;
  /** What the model is, for messages (default 'graph'). */
  readonly family?: string;
}

/** The cached graph, or one per phase when the prefill and the steps differ. */
export type CachedGraphs = Graph | { readonly prefill: Graph; readonly step: Graph };

/** Checks `graph` against the convention; returns its vocabulary size and cache capacity. */
export function checkCachedGraph(graph: Graph, what = 'graph'): { vocabSize: number; capacity: number | undefined; cacheBytesPerPosition: number } {
  const inputs = new Map(graphInputs(graph).map((n) => [String(n.attrs['name']), n]));
  const want = (name: string, rank: number) => {
    const node = inputs.get(name);
    if (!node) throw new ConfigError(`${what}: no input '${name}' (a KV-cache graph takes input_ids i32 [batch, T], position i32 [batch] and last_index i32 [batch]; MODELS.md, "Decoding your own graph")`);
    if (node.type.dtype !== 'i32' || node.type.shape.length !== rank) throw new ConfigError(`${what}: input '${name}' must be i32 of rank ${rank}, got ${node.type.dtype} [${node.type.shape.join(', ')}]`);
  };
  want('input_ids', 2);
  want('position', 1);
  want('last_index', 1);
  const logits = graph.outputs.find((o) => o.name === 'logits');
  if (!logits) throw new ConfigError(`${what}: no output 'logits' (outputs: ${graph.outputs.map((o) => o.name).join(', ')})`);
  const type = graph.nodes[logits.node]!.type;
  const vocab = type.shape[2];
  if (type.dtype !== 'f32' || type.shape.length !== 3 || type.shape[1] !== 1 || typeof vocab !== 'number') {
    throw new ConfigError(`${what}: output 'logits' must be f32 [batch, 1, V] with a static V, got ${type.dtype} [${type.shape.join(', ')}]`);
  }
  const states = [...stateNames(graph)].map((name) => inputs.get(name)!);
  if (states.length === 0) throw new ConfigError(`${what}: no states: a KV-cache graph keeps its caches as states (an input and an output of the same name, written with cacheUpdate)`);
  const capacities = new Set(states.map((s) => s.type.shape[1]).filter((d): d is number => typeof d === 'number'));
  let bytes = 0;
  for (const s of states) bytes += s.type.shape.slice(2).reduce<number>((n, d) => n * (typeof d === 'number' ? d : 1), 4);
  return { vocabSize: vocab, capacity: capacities.size === 1 ? [...capacities][0] : undefined, cacheBytesPerPosition: bytes };
}

/**
 * A CausalLm over a graph that follows the KV-cache convention (see above), with the weights its
 * params name. Errors name what the graph lacks.
 */
export function causalLmFromGraph(graphs: CachedGraphs, weights: Weights, options: GraphCausalLmOptions): CausalLm {
  const [prefill, step] = 'prefill' in graphs ? [graphs.prefill, graphs.step] : [graphs, graphs];
  const checked = checkCachedGraph(prefill, 'the prefill graph');
  if (step !== prefill && checkCachedGraph(step, 'the step graph').vocabSize !== checked.vocabSize) throw new ConfigError('the prefill and step graphs give logits of different vocabularies');
  const maxPositions = options.maxPositions ?? checked.capacity;
  if (maxPositions === undefined) throw new ConfigError('the caches do not share one capacity (axis 1): give maxPositions, the longest a row may grow');
  const plans: CachedPlans = { vocabSize: checked.vocabSize, maxPositions, build: (seq) => (seq === 1 ? step : prefill) };
  const check = (rows: readonly (readonly number[])[]) => checkTokenRows(rows, checked.vocabSize, maxPositions, 'prompt');
  let full: GraphRunner | undefined;
  let lastLogits: KvCacheDecoder | undefined;
  // KV-cache decoders kept between decodings with their prepared plans (decoder-pool.ts)
  const cachedDecoders = new DecoderPool(() => new KvCacheDecoder(plans, weights, options.backend));
  return {
    family: options.family ?? 'graph',
    vocabSize: checked.vocabSize,
    maxPositions,
    eosTokenId: options.eosTokenId ?? null,
    check,
    async logits(rows) {
      if (!options.full) throw new ModelInputError('logits at every position need the full-sequence graph (options.full); the KV-cache graph gives each row its last position only');
      check(rows);
      full ??= new GraphRunner(options.backend, options.full, weights);
      const { ids, mask } = padBatch(rows, 0);
      const feeds: Record<string, NDArray> = { input_ids: ids };
      if (options.full.nodes.some((n) => n.op === 'input' && n.attrs['name'] === 'attention_mask')) feeds['attention_mask'] = mask;
      return (await full.run(feeds))['logits']!;
    },
    async nextLogits(rows) {
      // a prefill on caches of their own (each prefill starts them afresh); its plan is prepared once
      lastLogits ??= new KvCacheDecoder(plans, weights, options.backend);
      return lastLogits.prefill(rows);
    },
    decoder(kvCache = true): StepDecoder {
      if (kvCache) return cachedDecoders.take();
      return new RecomputeDecoder((rows) => this.nextLogits(rows));
    },
    decodingBytes(): DecodingBytes {
      // every cache at full length (a window's ring is smaller: an upper bound), and the logits
      return { weights: weightBytes(weights), perRow: maxPositions * checked.cacheBytesPerPosition + logitsRowBytes(checked.vocabSize) };
    },
    async dispose() {
      await Promise.all([full?.dispose(), lastLogits?.dispose(), cachedDecoders.dispose()]);
    },
  };
}


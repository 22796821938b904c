/**
 * What a config would build, counted from its sizes without building it (each family's record has
 * its `size`), and the check of those sizes against the memory budget, which the registry runs on
 * every config before a graph is built: a config.json is a few hundred bytes; what it asks for can be
 * terabytes, or a million layers that would take the graph itself minutes and gigabytes.
 */
import { formatBytes, MemoryBudgetError } from '@loom/backends';
import { ConfigError } from '../errors.ts';

export interface ModelSize {
  /** Transformer layers, encoder and decoder together. */
  readonly layers: number;
  /** Parameters of the graph, tied tables once (as countParams counts a built graph). */
  readonly params: number;
  /** The sizes the count comes from, for messages: "12 layers of width 768 (MLP 3072), vocabulary 50257". */
  readonly description: string;
}

/** LayerNorm: a gain and a bias of width d. */
export const layerNormParams = (d: number) => 2 * d;
/** A linear layer with a bias, [inDim, outDim] + [outDim]. */
export const linearParams = (inDim: number, outDim: number) => inDim * outDim + outDim;

/**
 * The most layers (encoder and decoder together) Loom builds. The graph lives on the JavaScript
 * heap, which --max-memory does not size (V8's own limit does, ~4 GiB): each layer costs its nodes
 * and their compilation about 0.1 to 0.6 MiB and 10 to 60 ms, so 1024 layers stay within a minute
 * and a GiB. The deepest published Transformer (DeepNet, 2022) has 1000.
 */
export const MAX_LAYERS = 1024;

/** What the weights may take. */
export interface WeightsBudget {
  /** Bytes: --max-memory, else three quarters of the machine's memory (io/model-budget.ts). */
  readonly maxBytes: number;
  /** Bytes each parameter takes: 4 (float32) unless said otherwise. */
  readonly bytesPerParam?: number;
  /** What those bytes are, for the message (default 'float32 weights'). */
  readonly what?: string;
  /** The option that sets the budget, for the message (default --max-memory). */
  readonly option?: string;
}

/** 1234567 -> "1,234,567" (a count past 2^53 is approximate; a count past the doubles is "Infinity"). */
const count = (n: number) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: 0 }) : String(n));

/**
 * Refuses a config whose weights exceed the budget (a MemoryBudgetError with the numbers) or whose
 * layers exceed MAX_LAYERS (a ConfigError); `where` names the file.
 */
export function checkModelSize(size: ModelSize, where: string, budget: WeightsBudget): void {
  const bytes = size.params * (budget.bytesPerParam ?? 4);
  if (bytes > budget.maxBytes) {
    throw new MemoryBudgetError(`${where}: ${size.description} = ${count(size.params)} parameters, ${formatBytes(bytes)} of ${budget.what ?? 'float32 weights'}, above the memory budget of ${formatBytes(budget.maxBytes)} (${budget.option ?? '--max-memory'})`);
  }
  if (size.layers > MAX_LAYERS) {
    throw new ConfigError(`${where}: ${size.description}: ${size.layers} layers, more than the ${MAX_LAYERS} Loom builds (the graph and its compilation grow with every layer; the deepest published Transformer has 1000)`);
  }
}

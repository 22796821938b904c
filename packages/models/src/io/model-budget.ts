/**
 * The memory check of a config, before its graph is built: the weights its sizes declare against
 * the memory budget (--max-memory, default three quarters of the machine), and its layers against a
 * fixed bound. A config.json is a few hundred bytes; what it asks for can be terabytes.
 */
import { totalmem } from 'node:os';
import { DEFAULT_MEMORY_SHARE, formatBytes, MemoryBudgetError } from '@loom/backends';
import { ConfigError } from '../errors.ts';
import type { ModelSize } from '../model-size.ts';

/**
 * The most layers (encoder and decoder together) Loom builds. The graph lives on the JavaScript
 * heap, which --max-memory does not size (V8's own limit does, ~4 GiB): each layer costs its nodes
 * and their compilation about 0.1 to 0.6 MiB and 10 to 60 ms, so 1024 layers stay within a minute
 * and a GiB. The deepest published Transformer (DeepNet, 2022) has 1000.
 */
export const MAX_LAYERS = 1024;

/** What the weights may take. */
export interface WeightsBudget {
  /** Bytes: --max-memory, else three quarters of the machine's memory. */
  readonly maxBytes: number;
  /** Bytes each parameter takes: 4 (float32) unless said otherwise. */
  readonly bytesPerParam?: number;
  /** What those bytes are, for the message (default 'float32 weights'). */
  readonly what?: string;
  /** The option that sets the budget, for the message (default --max-memory). */
  readonly option?: string;
}

/** The budget for `maxMemory` bytes, or the default one: the backends' default in Node (io is Node-only). */
export function weightsBudget(maxMemory?: number): WeightsBudget {
  return { maxBytes: maxMemory ?? Math.floor(totalmem() * DEFAULT_MEMORY_SHARE) };
}

/** 1234567 -> "1,234,567" (a count past 2^53 is approximate; a count past the doubles is "Infinity"). */
const count = (n: number) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: 0 }) : String(n));

/**
 * Refuses a config whose weights exceed the budget (a MemoryBudgetError with the numbers) or whose
 * layers exceed MAX_LAYERS (a ConfigError); `where` names the file.
 */
export function checkModelSize(size: ModelSize, where: string, budget: WeightsBudget = weightsBudget()): void {
  const bytes = size.params * (budget.bytesPerParam ?? 4);
  if (bytes > budget.maxBytes) {
    throw new MemoryBudgetError(`${where}: ${size.description} = ${count(size.params)} parameters, ${formatBytes(bytes)} of ${budget.what ?? 'float32 weights'}, above the memory budget of ${formatBytes(budget.maxBytes)} (${budget.option ?? '--max-memory'})`);
  }
  if (size.layers > MAX_LAYERS) {
    throw new ConfigError(`${where}: ${size.description}: ${size.layers} layers, more than the ${MAX_LAYERS} Loom builds (the graph and its compilation grow with every layer; the deepest published Transformer has 1000)`);
  }
}

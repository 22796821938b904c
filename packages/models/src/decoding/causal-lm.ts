import type { NDArray } from '@loom/graph';
import type { DecodingBytes } from './decoding-budget.ts';
import type { StepDecoder } from './step.ts';

/**
 * What generation and the CLI need of a decoder-only language model, whatever its family (GPT-2,
 * Llama, ...): its limits, id checks, logits, and a step decoder with or without a KV cache.
 */
export interface CausalLm {
  /** e.g. 'gpt2', 'llama', for messages. */
  readonly family: string;
  readonly vocabSize: number;
  /** The longest sequence the model takes (prompt plus new tokens). */
  readonly maxPositions: number;
  /** Generation stops at this token unless told otherwise (null: never early). */
  readonly eosTokenId: number | null;
  /** Throws a ModelInputError for ids outside the vocabulary or rows longer than maxPositions. */
  check(rows: readonly (readonly number[])[]): void;
  /** logits [B, T, V] for rows right-padded to T (rows at padded positions are meaningless). */
  logits(rows: readonly (readonly number[])[]): Promise<NDArray>;
  /** Each row's next-token logits [V]. */
  nextLogits(rows: readonly (readonly number[])[]): Promise<Float32Array[]>;
  /** With the KV cache (default) each step feeds one token per row; without, each step recomputes the prefix. */
  decoder(kvCache?: boolean): StepDecoder;
  /** What decoding holds: the weights, and per row its KV cache at full length and its logits (for the memory budget). */
  decodingBytes(): DecodingBytes;
  dispose(): Promise<void>;
}

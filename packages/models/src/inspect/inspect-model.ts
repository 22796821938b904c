/**
 * What `loom inspect` shows: a model's full-sequence graph with its weights, how to feed it (a causal
 * LM's input_ids, an encoder-decoder's src_ids and tgt_ids, or any graph's inputs) and, where Loom
 * has one, its tokenizer and end token, so that the page can decode greedily token by token.
 */
import { graphInputs, nodeName, type Graph, type NDArray } from '@loom/graph';
import { readFileSync } from 'node:fs';
import { modelWithWeights, type ModelSource } from '../io/model-with-weights.ts';
import { checkTokenizerFitsModel, loadHfTokenizer, tokenizerBeside, type TextTokenizer } from '../tokenizers/hf-tokenizer.ts';

export type InspectFamily = 'causal' | 'seq2seq' | 'graph';

export interface InspectModel {
  readonly title: string;
  readonly kind: string;
  readonly graph: Graph;
  readonly weights: Map<string, NDArray>;
  /** Seeded random weights (no checkpoint was given): the page says so. */
  readonly randomWeights: boolean;
  readonly family: InspectFamily;
  readonly tokenizer?: TextTokenizer & { readonly name: string };
  /**
   * Token ids the model and its tokenizer both know are 0 to vocabSize - 1: the logits' width, or the
   * tokenizer's size where that is smaller. /api/decode refuses any other id rather than drop it.
   */
  readonly vocabSize?: number;
  /** Decoding starts from bos (encoder-decoders) and stops at eos. */
  readonly bos?: number;
  readonly eos?: number;
  readonly examplePrompt: string;
}

function familyOf(graph: Graph): InspectFamily {
  const names = new Set(graphInputs(graph).map((n) => nodeName(n)));
  if (names.has('src_ids') && names.has('tgt_ids')) return 'seq2seq';
  if (names.has('input_ids')) return 'causal';
  return 'graph';
}

/** The width of the graph's `logits` output (its last dim), where it is a number. */
function logitsWidth(graph: Graph): number | undefined {
  const output = graph.outputs.find((o) => o.name === 'logits');
  const width = output ? graph.nodes[output.node]!.type.shape.at(-1) : undefined;
  return typeof width === 'number' ? width : undefined;
}

/** The smallest of the sizes that are known, as an optional field. */
function vocabSizeOf(...sizes: (number | undefined)[]): { vocabSize?: number } {
  const known = sizes.filter((n): n is number => n !== undefined);
  return known.length > 0 ? { vocabSize: Math.min(...known) } : {};
}

/** A config.json's eos_token_id / bos_token_id (first of a list). */
function configToken(config: string | undefined, key: string): number | undefined {
  if (config === undefined) return undefined;
  try {
    const value = (JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>)[key];
    const id = Array.isArray(value) ? value[0] : value;
    return typeof id === 'number' ? id : undefined;
  } catch {
    return undefined;
  }
}

export function loadInspectModel(source: ModelSource): InspectModel {
  const randomWeights = source.weights === undefined;
  const { graph, weights, kind, family: modelFamily, config } = modelWithWeights({ ...source, randomWeights });
  const family = familyOf(graph);
  const title = `${kind}: ${source.model ?? source.config}${randomWeights ? ' (random weights)' : ''}`;
  const logits = logitsWidth(graph);
  // the tokenizer the model's family has without a file (GPT-2's BPE, the reverse model's characters)
  const builtin = modelFamily?.tokenizer?.(config);
  if (builtin) {
    const eos = configToken(source.config, 'eos_token_id') ?? builtin.eos;
    return { title, kind, graph, weights, randomWeights, family, tokenizer: builtin, ...vocabSizeOf(logits, builtin.vocabSize), ...(builtin.bos !== undefined ? { bos: builtin.bos } : {}), ...(eos !== undefined ? { eos } : {}), examplePrompt: builtin.examplePrompt };
  }
  const file = source.weights !== undefined ? tokenizerBeside(source.weights) : undefined;
  const hfTokenizer = file ? loadHfTokenizer(file) : undefined;
  // a tokenizer whose ids reach past the model's logits would turn text into ids the model cannot take
  if (hfTokenizer && logits !== undefined) checkTokenizerFitsModel(hfTokenizer, logits, source.config ?? source.model ?? 'the model');
  const eos = configToken(source.config, 'eos_token_id');
  const bos = configToken(source.config, 'decoder_start_token_id') ?? configToken(source.config, 'bos_token_id');
  return {
    title,
    kind,
    graph,
    weights,
    randomWeights,
    family,
    ...vocabSizeOf(logits),
    ...(hfTokenizer ? { tokenizer: { name: 'tokenizer.json', ...hfTokenizer } } : {}),
    ...(eos !== undefined ? { eos } : {}),
    ...(bos !== undefined ? { bos } : {}),
    examplePrompt: file ? 'The quick brown fox' : '1, 2, 3, 4',
  };
}

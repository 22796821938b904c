import type { Graph } from '@loom/graph';
import { rewriteGraph, type Rule } from '../rewrite/rewrite-graph.ts';

/**
 * A compiler pass as a value: a name (verb-noun, as in the pipeline and in traces), one line on what
 * it does, and a pure function from graph to graph. A pass never modifies the graph it is given.
 */
export interface Pass {
  readonly name: string;
  readonly description: string;
  run(graph: Graph): Graph;
}

export function definePass(name: string, description: string, run: (graph: Graph) => Graph): Pass {
  return { name, description, run };
}

/** A pass that applies a rule set to a fixpoint (see rewriteGraph). `rules` stays visible for tests and docs. */
export interface RewritePass extends Pass {
  readonly rules: readonly Rule[];
}

export function rewritePass(name: string, description: string, rules: readonly Rule[]): RewritePass {
  return { name, description, rules, run: (graph) => rewriteGraph(graph, rules) };
}

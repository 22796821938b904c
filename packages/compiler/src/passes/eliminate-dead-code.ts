import { WorkingGraph } from '../rewrite/working-graph.ts';
import { definePass } from './pass.ts';

/**
 * Drops nodes no output depends on (unread params and constants included) and renumbers the rest.
 * Graph inputs stay even when unread: they are the graph's signature, and callers feed them.
 */
export const eliminateDeadCode = definePass('eliminate-dead-code', 'drop nodes that no output depends on', (graph) =>
  WorkingGraph.from(graph).toGraph(),
);

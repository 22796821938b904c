import { expandOps, type Graph } from '@loom/graph';
import { planMemory, type MemoryPlanOptions } from './plan-memory.ts';
import type { Plan } from './plan.ts';

export interface CompileOptions extends MemoryPlanOptions {}

/**
 * Graph -> Plan. Currently: decompose composites, then plan memory in graph order. The pass pipeline
 * (simplification, fusion, scheduling) is being built and will slot in here.
 */
export function compile(graph: Graph, options: CompileOptions = {}): Plan {
  const lowered = expandOps(graph, (def) => def.category === 'composite');
  return planMemory(lowered, lowered.nodes.map((n) => n.id), { nodesBefore: graph.nodes.length, ...options });
}

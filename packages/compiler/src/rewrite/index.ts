export { pat, matchPattern, uniformValue, type Pattern, type AnyPattern, type Captures, type NodeView, type GraphView, type OpPatternOptions } from './pattern.ts';
export { rule, rewriteGraph, applyRules, type Rule, type RewriteContext, type RewriteOptions } from './rewrite-graph.ts';
export { WorkingGraph } from './working-graph.ts';

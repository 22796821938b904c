import type { OpDef, OPS, OpName } from '@loom/graph';

/** Attributes of op K as its op-table schema parses them (what every backend's renderers receive). */
export type AttrsOf<K extends OpName> = (typeof OPS)[K] extends OpDef<infer A> ? A : never;

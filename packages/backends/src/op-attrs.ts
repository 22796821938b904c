/** Attributes of op K as its op-table schema parses them (defined with the op table in @loom/graph). */
export type { AttrsOf } from '@loom/graph';

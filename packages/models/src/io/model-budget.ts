/**
 * The memory budget a config's weights are checked against before its graph is built
 * (families/model-size.ts checks; the registry runs the check): --max-memory, else three quarters of
 * the machine, which only Node can tell.
 */
import { totalmem } from 'node:os';
import { DEFAULT_MEMORY_SHARE } from '@loom/backends';
import type { WeightsBudget } from '../families/model-size.ts';

/** The budget for `maxMemory` bytes, or the default one: the backends' default in Node (io is Node-only). */
export function weightsBudget(maxMemory?: number): WeightsBudget {
  return { maxBytes: maxMemory ?? Math.floor(totalmem() * DEFAULT_MEMORY_SHARE) };
}

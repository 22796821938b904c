import type { VjpTable } from '../vjp.ts';
import { ELEMENTWISE_RULES } from './elementwise.ts';
import { MATMUL_RULES } from './matmul.ts';
import { MOVEMENT_RULES } from './movement.ts';
import { NORMALIZE_RULES } from './normalize.ts';
import { REDUCE_RULES } from './reduce.ts';
import { TRAINING_RULES } from './training.ts';

/**
 * The VJP table: a rule per op that has one. Composite and fused ops are differentiated through
 * their decompositions unless a rule here is cheaper or more accurate (softmax, layer norm, RMSNorm);
 * an op with neither (cache_update) has no gradient.
 */
export const VJP_RULES: VjpTable = {
  ...ELEMENTWISE_RULES,
  ...MATMUL_RULES,
  ...REDUCE_RULES,
  ...MOVEMENT_RULES,
  ...NORMALIZE_RULES,
  ...TRAINING_RULES,
};

/** @loom/models/node: loading models from files (Node only). */
export { FileError } from './errors.ts';
export { readCheckpoint, readUserFile } from './io/files.ts';
export { loadReverseModel, SHIPPED_WEIGHTS_DIR } from './reverse/load-reverse.ts';
export { loadGpt2 } from './io/load-gpt2.ts';
export { loadCausalLm, CAUSAL_LM_TYPES } from './io/load-causal-lm.ts';

/** @loom/models/node: loading models from files (Node only). */
export { FileError } from './errors.ts';
export { readCheckpoint, readUserFile } from './files.ts';
export { loadReverseModel, SHIPPED_WEIGHTS_DIR } from './reverse/load-reverse.ts';
export { loadCausalLm, loadGpt2, CAUSAL_LM_TYPES } from './io/load-causal-lm.ts';
export { loadSeq2Seq, SEQ2SEQ_TYPES, type Seq2SeqModel } from './io/load-seq2seq.ts';
// llama.cpp's GGUF files (issue 23: read and dequantized; the CLI's --weights model.gguf comes next)
export { GgufError, readGgufHeader, readGgufTensor, type GgufFile, type GgufTensor } from './gguf/read-gguf.ts';
export { llamaConfigFromGguf, llamaWeightsFromGguf } from './gguf/llama-gguf.ts';
export { gpt2ConfigFromGguf, gpt2WeightsFromGguf } from './gguf/gpt2-gguf.ts';
export { loadGgufCausalLm } from './io/load-causal-lm.ts';

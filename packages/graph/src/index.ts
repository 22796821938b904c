export * from './dtype.ts';
export * from './errors.ts';
export * from './shape.ts';
export * from './tensor-type.ts';
export * from './ndarray.ts';
export * from './graph.ts';
export * from './op-def.ts';
export * from './op-table.ts';
export { GraphBuilder } from './graph-builder.ts';
export { ModelBuilder, State, Tensor, type AttentionOptions } from './typed-builder.ts';
export type { BroadcastTo } from './typed-shapes.ts';
export { expandOps, type ExpandPredicate } from './expand.ts';
export { bindInputs, checkWeights, type Weights } from './bind-inputs.ts';
export { interpret, type InterpretOptions } from './interpreter.ts';
export { graphToJson, graphFromJson } from './serialize.ts';
export { printGraph, printNode } from './printer.ts';
export { verifyGraph } from './verify.ts';
export { UNARY_FUNCTIONS, BINARY_FUNCTIONS, COMPARE_FUNCTIONS, LOGICAL_FUNCTIONS, type UnaryName, type BinaryName, type CompareName, type LogicalName } from './ops/elementwise.ts';
export { ACTIVATIONS, type Activation } from './ops/composite/ffn.ts';
export { GLU_ACTIVATIONS, type GluActivation } from './ops/composite/glu-ffn.ts';
export { ROPE_STYLES, ropeFrequencies, rotaryDims, type RopeStyle } from './ops/rope.ts';
export { MASKED } from './ops/composite/mask-value.ts';
export { erf, gelu, geluTanh, sigmoid } from './ops/math.ts';
export { forEachBroadcast, broadcastStrides, batchOffsets } from './ops/broadcast.ts';
export { type Expr, exprSchema, exprDType, exprInputs, exprArity, emitExpr, exprSize, formatExpr } from './ops/fused/expr.ts';
export {
  readSafetensors,
  writeSafetensors,
  layoutSafetensors,
  SafetensorsError,
  MAX_HEADER_BYTES,
  READABLE_DTYPES,
  type SafetensorsFile,
  type SafetensorsLayout,
  type SafetensorsPart,
  type ReadSafetensorsOptions,
  type ReadableDType,
  type SafetensorsDType,
} from './io/safetensors.ts';
export { writeBlock } from './ops/cache-update.ts';
export { decodeBF16, decodeF16, halfToFloat, roundToHalf } from './io/half.ts';
export * from './quant/weight-quantization.ts';
export * from './quant/activation-quantization.ts';
export { checkCodeWords, isCodeWord } from './ops/dequantize.ts';
export { quantizedExtrasStart } from './ops/fused/quantized-matmul.ts';
export { ranksAbove, topKRows } from './ops/top-k.ts';
export { attentionInputs, hasAttentionExtras, headCount, usesPositions, type AttentionExtras } from './ops/fused/fused-attention.ts';
export { DROPOUT_CONSTANTS, dropoutHash, dropoutKeeps } from './ops/dropout-hash.ts';
export { mulberry32 } from './random.ts';

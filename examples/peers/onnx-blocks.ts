/**
 * Transformer pieces in ONNX ops, written to compute what Loom's composite ops compute (see
 * packages/graph/src/ops/composite): linear is x @ W + b with W stored [in, out], attention scales
 * the scores after q k^T and adds a finite mask value, LayerNorm divides by the biased variance.
 *
 * Dimension letters: B batch, T query length, S key length, D width, H heads, Dh = D / H.
 */
import type { NDArray, Weights } from '@loom/graph';
import { ints, int, float, type OnnxGraph } from './onnx-graph.ts';

/** Loom's MASKED (mask-value.ts): finite, so exp(MASKED - max) is exactly 0 and no row turns NaN. */
export const MASKED = -1e30;

export function weightOf(weights: Weights, name: string): NDArray {
  const w = weights.get(name);
  if (!w) throw new Error(`onnx peer: missing weight ${name}`);
  return w;
}

/** x @ `${name}.weight` + `${name}.bias`. */
export function linear(g: OnnxGraph, weights: Weights, name: string, x: string): string {
  const product = g.node('MatMul', [x, g.weight(`${name}.weight`, weightOf(weights, `${name}.weight`))]);
  return g.node('Add', [product, g.weight(`${name}.bias`, weightOf(weights, `${name}.bias`))]);
}

/** LayerNorm over the last axis with `${name}.weight` (gamma) and `${name}.bias` (beta). */
export function layerNorm(g: OnnxGraph, weights: Weights, name: string, x: string, eps: number): string {
  const gamma = g.weight(`${name}.weight`, weightOf(weights, `${name}.weight`));
  const beta = g.weight(`${name}.bias`, weightOf(weights, `${name}.bias`));
  return g.node('LayerNormalization', [x, gamma, beta], { axis: int(-1), epsilon: float(eps) });
}

/** (B, T, D) -> (B, H, T, Dh). Reshape's 0 copies B and T, so both stay dynamic. */
export function splitHeads(g: OnnxGraph, x: string, heads: number, headDim: number): string {
  const split = g.node('Reshape', [x, g.int64s([0, 0, heads, headDim])]);
  return g.node('Transpose', [split], { perm: ints([0, 2, 1, 3]) });
}

/** (B, H, T, Dh) -> (B, T, D). */
export function mergeHeads(g: OnnxGraph, x: string, width: number): string {
  const merged = g.node('Transpose', [x], { perm: ints([0, 2, 1, 3]) });
  return g.node('Reshape', [merged, g.int64s([0, 0, width])]);
}

/**
 * softmax(q k^T * scale + mask) v on heads: q (B, H, T, Dh), k and v (B, H, S, Dh), an additive
 * mask broadcasting to (B, H, T, S) -> (B, H, T, Dh).
 */
export function attend(g: OnnxGraph, q: string, k: string, v: string, headDim: number, mask?: string): string {
  const keysT = g.node('Transpose', [k], { perm: ints([0, 1, 3, 2]) }); // (B, H, Dh, S)
  let scores = g.node('Mul', [g.node('MatMul', [q, keysT]), g.floats([1 / Math.sqrt(headDim)], [])]); // (B, H, T, S)
  if (mask !== undefined) scores = g.node('Add', [scores, mask]);
  return g.node('MatMul', [g.node('Softmax', [scores], { axis: int(-1) }), v]);
}

/** An additive mask from a boolean tensor: MASKED where `blocked` is true, 0 elsewhere. */
export function additiveMask(g: OnnxGraph, blocked: string): string {
  return g.node('Where', [blocked, g.floats([MASKED], []), g.floats([0], [])]);
}

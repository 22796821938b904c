import type { NodeRef } from '@loom/graph';
import { normalizeAxis } from '@loom/graph';
import { scalar, unbroadcast, type GradEmitter } from '../emit.ts';
import type { VjpTable } from '../vjp.ts';

/**
 * Normalizations with rules of their own, cheaper and closer to PyTorch than going through their
 * decompositions: softmax from its output (dx = y (g - sum(g y))), layer norm and RMSNorm from the
 * normalized row recomputed from x (one pass of statistics instead of keeping the decomposition's
 * intermediates alive until the backward pass).
 */

const sum = (b: GradEmitter, x: NodeRef, axis: number) => b.add('reduce_sum', [x], { axes: [axis], keepDims: true });
const mean = (b: GradEmitter, x: NodeRef) => b.add('reduce_mean', [x], { axes: [-1], keepDims: true });
const mul = (b: GradEmitter, ...xs: NodeRef[]) => xs.reduce((p, x) => b.add('mul', [p, x]));

/** The cotangent of a [D] scale or shift: summed over every axis but the last. */
function perFeature(b: GradEmitter, g: NodeRef, param: NodeRef): NodeRef {
  return unbroadcast(b, g, b.typeOf(param));
}

export const NORMALIZE_RULES: VjpTable = {
  softmax: ({ b, output: y, cotangent: g, attrs }) => {
    const axis = normalizeAxis(attrs.axis, b.typeOf(y).shape.length)!;
    const gy = mul(b, g, y);
    return [b.add('sub', [gy, mul(b, y, sum(b, gy, axis))])];
  },
  // x̂ = (x - mean) / sigma; dx = (gx̂ - mean(gx̂) - x̂ mean(gx̂ x̂)) / sigma with gx̂ = g gamma
  layer_norm: ({ b, inputs, cotangent: g, attrs, needs }) => {
    const [x, gamma, beta] = inputs as [NodeRef, NodeRef, NodeRef];
    const centered = b.add('sub', [x, mean(b, x)]);
    const inv = b.add('rsqrt', [b.add('add', [mean(b, mul(b, centered, centered)), scalar(b, attrs.eps)])]);
    const normalized = mul(b, centered, inv);
    let dx: NodeRef | undefined;
    if (needs(0)) {
      const gn = mul(b, g, gamma);
      dx = mul(b, inv, b.add('sub', [b.add('sub', [gn, mean(b, gn)]), mul(b, normalized, mean(b, mul(b, gn, normalized)))]));
    }
    return [dx, needs(1) ? perFeature(b, mul(b, g, normalized), gamma) : undefined, needs(2) ? perFeature(b, g, beta) : undefined];
  },
  // y = x r s with r = 1 / sqrt(mean(x^2) + eps), s = weight + offset; dx = r (gs - x r^2 mean(gs x))
  rms_norm: ({ b, inputs, cotangent: g, attrs, needs }) => {
    const [x, weight] = inputs as [NodeRef, NodeRef];
    const r = b.add('rsqrt', [b.add('add', [mean(b, mul(b, x, x)), scalar(b, attrs.eps)])]);
    const scale = attrs.weightOffset === 0 ? weight : b.add('add', [weight, scalar(b, attrs.weightOffset)]);
    let dx: NodeRef | undefined;
    if (needs(0)) {
      const gs = mul(b, g, scale);
      dx = mul(b, r, b.add('sub', [gs, mul(b, x, r, r, mean(b, mul(b, gs, x)))]));
    }
    return [dx, needs(1) ? perFeature(b, mul(b, g, x, r), weight) : undefined];
  },
};

/**
 * Added to attention scores that must not be attended to. Finite (not -Infinity) so that a fully
 * masked row gives a uniform average instead of NaN and online-softmax kernels need no special case;
 * exp(MASKED - max) is exactly 0 in float32 and float64.
 */
export const MASKED = -1e30;

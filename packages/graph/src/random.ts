/**
 * mulberry32: a tiny seeded generator of floats in [0, 1), for reproducible random weights, inputs and
 * test data (failures replay from their seed). Not for cryptography; sampling in decoding uses the
 * stronger xoshiro128** of packages/models.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

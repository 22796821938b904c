/** An axis group of a reduction: its extent and its stride in the input. */
export interface AxisGroup {
  readonly size: number;
  readonly stride: number;
}

/**
 * Merges neighbouring axes of the same kind (kept or reduced), so that e.g. reducing the last axis of
 * [B, T, D] becomes [B*T | D]. Returns the kept and reduced groups with their input strides (axes of
 * extent 1 dropped). Shared by the GPU backends' reduction renderers.
 */
export function collapseReduction(shape: readonly number[], reduced: ReadonlySet<number>): { kept: AxisGroup[]; summed: AxisGroup[] } {
  const groups: { size: number; reduced: boolean }[] = [];
  shape.forEach((d, axis) => {
    if (d === 1) return;
    const isReduced = reduced.has(axis);
    const last = groups[groups.length - 1];
    if (last && last.reduced === isReduced) last.size *= d;
    else groups.push({ size: d, reduced: isReduced });
  });
  let stride = 1;
  const strided: (AxisGroup & { reduced: boolean })[] = [];
  for (let g = groups.length - 1; g >= 0; g--) {
    strided.unshift({ size: groups[g]!.size, stride, reduced: groups[g]!.reduced });
    stride *= groups[g]!.size;
  }
  return { kept: strided.filter((g) => !g.reduced), summed: strided.filter((g) => g.reduced) };
}

/** What a reduce step walks: its outputs, the elements reduced into each, and the kept and reduced axis groups. */
export interface ReductionShape {
  readonly outputs: number;
  readonly count: number;
  readonly kept: AxisGroup[];
  readonly summed: AxisGroup[];
}

/** The reduction of `inShape` over `axes` (negative axes counted from the end), as the GPU renderers walk it. */
export function reductionShape(inShape: readonly number[], axes: readonly number[]): ReductionShape {
  const reduced = new Set(axes.map((a) => (a < 0 ? a + inShape.length : a)));
  const outputs = inShape.reduce((p, d, i) => (reduced.has(i) ? p : p * d), 1);
  const count = inShape.reduce((p, d, i) => (reduced.has(i) ? p * d : p), 1);
  return { outputs, count, ...collapseReduction(inShape, reduced) };
}

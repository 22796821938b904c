import type { DimBindings } from '@loom/graph';

/** The symbol values of a run as one string (`batch=1,seq=5`, names sorted): runs at the same values share what was derived from them. */
export function bindingsKey(bindings: DimBindings): string {
  return [...bindings].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(',');
}

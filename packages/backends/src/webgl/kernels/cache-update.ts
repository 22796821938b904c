import { normalizeAxis } from '@loom/graph';
import { imod, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';

/**
 * cache_update: the cache with `update` written at [position, position + T) along `axis`. A fragment
 * cannot write into the texture it reads, so every run draws the whole cache anew: each element
 * takes the update's value inside the written block and the old cache's outside it. Positions are
 * per row of the leading axis (or one for all rows); positions fed from a graph input are checked on
 * the host.
 */
export function cacheUpdateKernel(ctx: KernelContext<'cache_update'>): GlPass[] {
  const [cache, update, position] = ctx.inputs;
  const shape = cache!.shape;
  const size = sizeOfShape(shape);
  if (size === 0) return [];
  const axis = normalizeAxis(ctx.attrs.axis, shape.length)!;
  const capacity = shape[axis]!;
  const t = update!.shape[axis]!;
  const inner = sizeOfShape(shape.slice(axis + 1));
  const outer = sizeOfShape(shape.slice(0, axis));
  const rows = Math.max(shape[0]!, 1);
  const perRow = Math.max(outer / rows, 1);
  if (t === 0 || sizeOfShape(update!.shape) === 0) {
    return [{ inputs: [input(0)], size, helpers: [], body: [`return ${sample(0, 'i')};`], what: 'cache_update copy' }];
  }
  const body = [
    `int o = i / ${int(capacity * inner)};`,
    `int a = ${imod(`i / ${int(inner)}`, capacity)};`,
    `int rest = ${imod('i', inner)};`,
    `int row = ${sizeOfShape(position!.shape) === 1 ? '0' : `o / ${int(perRow)}`};`,
    `int start = int(${sample(2, 'row')});`,
    `if (a >= start && a < start + ${int(t)}) { return ${sample(1, `(o * ${int(t)} + a - start) * ${int(inner)} + rest`)}; }`,
    `return ${sample(0, 'i')};`,
  ];
  return [{ inputs: [input(0), input(1), input(2)], size, helpers: [], body, what: 'cache_update' }];
}

import { normalizeAxis } from '@loom/graph';
import { f32Literal, imod, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';
import { PassList } from '../reduction.ts';
import { indexStatusPass } from './index-status.ts';

/**
 * cache_update: the cache with `update` written at [position, position + T) along `axis`. A fragment
 * cannot write into the texture it reads, so every run draws the whole cache anew: each element
 * takes the update's value inside the written block and the old cache's outside it. Positions are
 * per row of the leading axis (or one for all rows); positions fed from a graph input are checked on
 * the host. With `count`, each row writes its first count update rows; `rolling` makes the axis a
 * ring: slot a takes the last update row k < count with (position + k) mod capacity = a.
 */
export function cacheUpdateKernel(ctx: KernelContext<'cache_update'>): GlPass[] {
  const [cache, update, position, count] = ctx.inputs;
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
  const rowOf = (t: { shape: readonly number[] }) => (sizeOfShape(t.shape) === 1 ? '0' : 'row');
  const body = [
    `int o = i / ${int(capacity * inner)};`,
    `int a = ${imod(`i / ${int(inner)}`, capacity)};`,
    `int rest = ${imod('i', inner)};`,
    `int row = o / ${int(perRow)};`,
    `int start = int(${sample(2, rowOf(position!))});`,
    `int n = ${count ? `int(${sample(3, rowOf(count))})` : int(t)};`,
    ...(ctx.attrs.rolling
      ? [
          // the update rows landing on slot a are k = d, d + capacity, ...: the last one below n
          `float d = mod(float(a - start), ${int(capacity)}.0);`,
          `int k = int(d + ${int(capacity)}.0 * floor((float(n) - 1.0 - d) / ${int(capacity)}.0));`,
          `if (k >= 0 && k < n) { return ${sample(1, `(o * ${int(t)} + k) * ${int(inner)} + rest`)}; }`,
        ]
      : [`if (a >= start && a < start + n) { return ${sample(1, `(o * ${int(t)} + a - start) * ${int(inner)} + rest`)}; }`]),
    `return ${sample(0, 'i')};`,
  ];
  const list = new PassList();
  if (count) {
    // a count outside 0..T, or one that does not fit after its position, is an error after the run
    const rows = sizeOfShape(count.shape);
    const fit = ctx.attrs.rolling ? '' : ` || w + v > ${f32Literal(capacity)}`;
    indexStatusPass(list, input(3), rows, (v, w) => `${v} < 0.0 || ${v} > ${f32Literal(t)} || w < 0.0${fit}`, 'cache_update', ctx.limits.maxLoopIterations, { source: input(2), single: sizeOfShape(position!.shape) === 1 });
  }
  list.add({ inputs: [input(0), input(1), input(2), ...(count ? [input(3)] : [])], size, helpers: [], body, what: 'cache_update' });
  return list.passes;
}

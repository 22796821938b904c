import { shapeEquals, typeEquals, type NodeRef } from '@loom/graph';
import { pat } from '../rewrite/pattern.ts';
import { rule, type RewriteContext } from '../rewrite/rewrite-graph.ts';
import { rewritePass } from './pass.ts';

/**
 * Algebraic identities that hold bit for bit (up to the sign of a zero). Each removes a node or
 * replaces a chain by one node; none changes a value's type, so `x * 1` only goes when x already has
 * the product's shape (a broadcasting `* ones` still has work to do).
 */

/** `x` stands in for `root` only when it has root's exact type (no broadcast, no dtype change). */
function keep(x: NodeRef, ctx: RewriteContext): NodeRef | undefined {
  return typeEquals(ctx.typeOf(x), ctx.typeOf(ctx.root)) ? x : undefined;
}

function isIdentityPerm(perm: readonly number[]): boolean {
  return perm.every((p, i) => p === i);
}

/** transpose(transpose(x, inner), outer): out[j] = x[inner[outer[j]]]. */
const transposeOfTranspose = rule(
  'transpose-of-transpose',
  pat.op('transpose', [pat.op('transpose', [pat.var('x')], { capture: 'inner' })]),
  ({ x, inner }, ctx) => {
    const innerPerm = ctx.node(inner).attrs['perm'] as number[];
    const outerPerm = ctx.node(ctx.root).attrs['perm'] as number[];
    const perm = outerPerm.map((p) => innerPerm[p]!);
    return isIdentityPerm(perm) ? x : ctx.add('transpose', [x], { perm });
  },
);

const identityTranspose = rule(
  'identity-transpose',
  pat.op('transpose', [pat.var('x')], { where: (n) => isIdentityPerm(n.attrs['perm'] as number[]) }),
  ({ x }) => x,
);

/** reshape(reshape(x)) -> reshape(x): only the last shape matters (row-major order is kept throughout). */
const reshapeOfReshape = rule('reshape-of-reshape', pat.op('reshape', [pat.op('reshape', [pat.var('x')])]), ({ x }, ctx) =>
  ctx.add('reshape', [x], { ...ctx.node(ctx.root).attrs }),
);

const reshapeToSameShape = rule('reshape-to-same-shape', pat.op('reshape', [pat.var('x')]), ({ x }, ctx) =>
  shapeEquals(ctx.typeOf(x).shape, ctx.typeOf(ctx.root).shape) ? x : undefined,
);

const identityCast = rule('identity-cast', pat.op('cast', [pat.var('x')]), ({ x }, ctx) => keep(x, ctx));

const mulByOne = rule('mul-by-one', pat.op('mul', [pat.var('x'), pat.constant(1)], { commutative: true }), ({ x }, ctx) => keep(x, ctx));
const addZero = rule('add-zero', pat.op('add', [pat.var('x'), pat.constant(0)], { commutative: true }), ({ x }, ctx) => keep(x, ctx));
const subZero = rule('sub-zero', pat.op('sub', [pat.var('x'), pat.constant(0)]), ({ x }, ctx) => keep(x, ctx));
const divByOne = rule('div-by-one', pat.op('div', [pat.var('x'), pat.constant(1)]), ({ x }, ctx) => keep(x, ctx));

/** A slice that keeps the whole axis. */
const wholeSlice = rule('whole-slice', pat.op('slice', [pat.var('x')]), ({ x }, ctx) => keep(x, ctx));

const concatOfOne = rule('concat-of-one', pat.op('concat', [pat.var('x')]), ({ x }) => x);

/**
 * matmul(a, transpose(b)) where the transpose swaps the last two axes: read b transposed instead of
 * materializing it (x @ W^T with tied embeddings, q @ k^T). Same products, same summation order.
 */
const matmulOfTranspose = rule(
  'matmul-of-transpose',
  pat.op('matmul', [pat.var('a'), pat.op('transpose', [pat.var('b')], { capture: 't', where: (n) => swapsLastTwo(n.attrs['perm'] as number[]) })]),
  ({ a, b }, ctx) => ctx.add('matmul', [a, b], { transposeB: !(ctx.node(ctx.root).attrs['transposeB'] as boolean) }),
);

function swapsLastTwo(perm: readonly number[]): boolean {
  const n = perm.length;
  return n >= 2 && perm.every((p, i) => (i < n - 2 ? p === i : i === n - 2 ? p === n - 1 : p === n - 2));
}

export const simplifyAlgebraRules = [
  transposeOfTranspose,
  identityTranspose,
  reshapeOfReshape,
  reshapeToSameShape,
  identityCast,
  mulByOne,
  addZero,
  subZero,
  divByOne,
  wholeSlice,
  concatOfOne,
  matmulOfTranspose,
];

export const simplifyAlgebra = rewritePass(
  'simplify-algebra',
  'remove identity ops (x*1, x+0, x-0, x/1, same-shape reshapes, identity casts and transposes) and collapse transpose and reshape chains',
  simplifyAlgebraRules,
);

import { describe, expect, it } from 'vitest';
import { interpret, ndarray, printGraph, verifyGraph, type Graph } from '@loom/graph';
import { defaultPipeline, definePass, eliminateDeadCode, formatTrace, runPipeline, simplifyAlgebra, type PassTraceEntry } from '../src/index.ts';
import { buildGptLike, buildPostNormEncoder, GPT2_SMALL, randomWeights } from './fixtures/gpt-like.ts';
import { buildGraph, deepFreeze, f32, opCounts, values } from './helpers.ts';
import { firstMismatch } from '@loom/graph/testing';

const tiny = () =>
  buildGraph((b) => {
    const x = b.input('x', 'f32', [2, 3]);
    b.constant(7);
    return { y: b.add('exp', [b.add('mul', [x, b.constant(1)])]) };
  });

describe('runPipeline', () => {
  it('runs the passes in order and traces each: name, nodes before and after, time', () => {
    const { graph, trace } = runPipeline(tiny(), { passes: [simplifyAlgebra, eliminateDeadCode] });
    expect(printGraph(graph)).toMatch(/^%0 = input "x".*\n%1 = exp\(%0\)/);
    expect(trace.map(({ name, nodesBefore, nodesAfter }) => ({ name, nodesBefore, nodesAfter }))).toEqual([
      { name: 'simplify-algebra', nodesBefore: 5, nodesAfter: 2 },
      { name: 'eliminate-dead-code', nodesBefore: 2, nodesAfter: 2 },
    ]);
    for (const t of trace) expect(t.ms).toBeGreaterThanOrEqual(0);
    expect(formatTrace(trace)).toMatch(/simplify-algebra\s+5 ->\s+2\s+[\d.]+ ms\n.*\ntotal/);
  });

  it('does not modify its input graph', () => {
    const g = deepFreeze(buildGptLike({ layers: 1, width: 4, heads: 2, vocab: 5, positions: 8 }));
    expect(() => runPipeline(g)).not.toThrow();
  });

  it('dumps the graph after the named pass, or after every pass', () => {
    const one = runPipeline(tiny(), { dumpAfter: 'simplify-algebra' }).trace;
    expect(one.filter((t) => t.dump !== undefined).map((t) => t.name)).toEqual(['simplify-algebra', 'simplify-algebra']);
    expect(one.find((t) => t.dump)!.dump).toContain('= exp(%0)');
    expect(runPipeline(tiny(), { dumpAfter: 'all' }).trace.every((t) => t.dump !== undefined)).toBe(true);
  });

  it('calls onPass after each pass with the pass, its output and its trace entry', () => {
    const seen: [string, number, PassTraceEntry][] = [];
    runPipeline(tiny(), { onPass: (p, g, t) => seen.push([p.name, g.nodes.length, t]) });
    expect(seen.map(([name]) => name)).toEqual(defaultPipeline.map((p) => p.name));
    for (const [name, nodes, t] of seen) expect([t.name, t.nodesAfter]).toEqual([name, nodes]);
  });

  it('with verify, names the pass that broke an invariant', () => {
    const broken = definePass('break-types', 'a buggy pass', (g: Graph) => ({ ...g, nodes: g.nodes.map((n) => (n.op === 'exp' ? { ...n, type: { dtype: 'i32', shape: [2, 3] } } : n)) }));
    expect(() => runPipeline(tiny(), { passes: [broken], verify: true })).toThrow(/after pass 'break-types': .*stored type i32\[2, 3\] differs from inferred f32\[2, 3\]/);
    expect(() => runPipeline(tiny(), { passes: [broken] })).not.toThrow();
  });

  it('fails early, in infer-types, on a graph that does not type-check', () => {
    const g = tiny();
    const bad: Graph = { ...g, nodes: g.nodes.map((n) => (n.op === 'mul' ? { ...n, attrs: { extra: 1 } } : n)) };
    expect(() => runPipeline(bad)).toThrow(/mul: invalid attrs/);
  });
});

describe('the default pipeline on transformer graphs', () => {
  it('compiles a GPT-2 block to: ln, qkv matmul+bias, slices and head transposes, attention, merge, proj+bias+residual, ln, fc+bias+gelu, proj+bias+residual', () => {
    const perLayer = (layers: number) => opCounts(runPipeline(buildGptLike({ layers, width: 8, heads: 2, vocab: 11, positions: 16 }), { verify: true }).graph);
    const [one, two] = [perLayer(1), perLayer(2)];
    const delta = Object.fromEntries(Object.keys(two).map((op) => [op, two[op]! - (one[op] ?? 0)]).filter(([, d]) => d !== 0));
    expect(delta).toEqual({ param: 12, layer_norm: 2, fused_matmul: 4, fused_attention: 1, slice: 3, reshape: 4, transpose: 4 });
    // the mask is built once, and the tied head reads wte transposed without a transpose kernel
    expect(two['fused_elementwise']).toBe(1);
    expect(two['matmul']).toBe(1);
    expect(two).not.toHaveProperty('softmax');
  });

  it('fuses both Add & Norm of a post-norm encoder layer', () => {
    const out = runPipeline(buildPostNormEncoder({ layers: 1, width: 6, heads: 2 }), { verify: true }).graph;
    expect(opCounts(out)).toMatchObject({ fused_add_layer_norm: 2, fused_attention: 1, fused_matmul: 6 });
  });

  it('keeps a small GPT and a small encoder computing the same (float64 and float32)', () => {
    const cases: [Graph, Record<string, ReturnType<typeof f32>>][] = [
      [buildGptLike({ layers: 2, width: 8, heads: 2, vocab: 11, positions: 16 }), { input_ids: ndarray('i32', [2, 5], [1, 4, 7, 10, 0, 3, 3, 9, 2, 5]) }],
      [buildPostNormEncoder({ layers: 2, width: 6, heads: 3 }), { x: values([2, 4, 6]) }],
    ];
    for (const [g, feeds] of cases) {
      const weights = randomWeights(g);
      const out = runPipeline(g, { verify: true }).graph;
      const [a, b] = [interpret(g, feeds, weights), interpret(out, feeds, weights)];
      const b32 = interpret(out, feeds, weights, { precision: 'f32' });
      for (const name of Object.keys(a)) {
        expect(firstMismatch(b[name]!, a[name]!, 1e-12)).toBeUndefined();
        expect(firstMismatch(b32[name]!, a[name]!, 1e-4)).toBeUndefined();
      }
    }
  });

  // compile time is measured by examples/bench.ts and `loom compile gpt2 --report`, not asserted here
  it('compiles GPT-2 small (12 layers, d = 768) to the expected fused ops', () => {
    const out = runPipeline(buildGptLike(GPT2_SMALL)).graph;
    verifyGraph(out);
    // the last residual sum is read only by ln_f: Add & Norm fuses there, even in a pre-norm model
    expect(opCounts(out)).toMatchObject({ fused_attention: 12, fused_matmul: 48, layer_norm: 24, fused_add_layer_norm: 1 });
  });
});

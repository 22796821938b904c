/**
 * Steps that depend on no graph input (a sinusoid table, a causal mask) are computed once per symbol
 * values and written back on the next runs (cpu/invariant-steps.ts): the answers stay the
 * interpreter's when the inputs change, when the sizes change and change back, and in poison mode.
 */
import { interpret, ModelBuilder, type Graph, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { cpuBackend, randomWeights, type CpuProgram } from '../src/index.ts';
import { bindingsKey } from '../src/cpu/bindings-key.ts';
import { InvariantSteps, INVARIANT_CACHE_BYTES } from '../src/cpu/invariant-steps.ts';
import { compile } from '@loom/compiler';
import { maxDiff } from './max-diff.ts';

/** Token embedding plus the sinusoid, then causal self-attention over it: two invariant parts (the table, the mask). */
function encoderish(): Graph {
  const m = new ModelBuilder();
  const ids = m.input('ids', 'i32', ['batch', 'seq'] as const);
  const x = m.sinusoidalPosenc(m.embed(ids, m.param('emb', [20, 16] as const)));
  const y = m.attention(x, x, x, 2, m.causalMask(ids));
  return m.build({ y: m.matmul(y, m.param('w', [16, 16] as const)) });
}

const idsOf = (values: number[]): NDArray => ({ dtype: 'i32', shape: [1, values.length], data: Int32Array.from(values) });

describe('cpu: invariant steps kept across runs', () => {
  it.each([
    ['default', {}],
    ['poison mode', { poison: true }],
  ] as const)('equal the interpreter as inputs and sizes change (%s)', async (_, options) => {
    const graph = encoderish();
    const weights = randomWeights(graph, 5);
    const model = (await cpuBackend.prepare(graph, weights, { cpu: options })) as Awaited<ReturnType<typeof cpuBackend.prepare>> & { program: CpuProgram };
    const runs: [number[], boolean][] = [
      [[1, 2, 3, 4, 5], false], // first run at seq 5: computes and keeps
      [[9, 8, 7, 6, 5], true], // same sizes, other ids: writes the table and mask back
      [[3, 1, 4, 1, 5, 9, 2], false], // seq 7: the kept values were for seq 5
      [[2, 7, 1, 8, 2], false], // back to 5: kept for 7, so computed again
      [[2, 7, 1, 8, 3], true],
    ];
    for (const [ids, replays] of runs) {
      const got = (await model.run({ ids: idsOf(ids) }))['y']!;
      const want = interpret(graph, { ids: idsOf(ids) }, weights)['y']!;
      expect(maxDiff(got, want), ids.join(',')).toBeLessThan(1e-5);
      if (replays) expect(model.program.replayedSteps(), ids.join(',')).toBeGreaterThan(0);
      else expect(model.program.replayedSteps(), ids.join(',')).toBe(0);
    }
    model.dispose();
  });

  it("a kept value is for its symbol values, even where a step's size does not depend on them", async () => {
    // sum(range(n)) is one number whatever n is: a copy kept at n = 3 must not answer for n = 4
    const m = new ModelBuilder();
    const a = m.input('a', 'f32', ['n'] as const);
    const b = m.input('b', 'f32', [2] as const);
    const total = m.reduce('sum', m.cast(m.range('n'), 'f32'), [0], true);
    const graph = m.build({ y: m.add(m.mul(b, total), m.reduce('sum', a, [0], true)) });
    const model = await cpuBackend.prepare(graph, new Map());
    const f32 = (v: number[]): NDArray => ({ dtype: 'f32', shape: [v.length], data: Float32Array.from(v) });
    for (const n of [3, 3, 4, 4, 3]) {
      const feeds = { a: f32(Array.from({ length: n }, () => 1)), b: f32([1, 2]) };
      expect(Array.from((await model.run(feeds))['y']!.data), `n = ${n}`).toEqual(Array.from(interpret(graph, feeds, new Map())['y']!.data));
    }
    model.dispose();
  });

  it('steps that read an input are never kept; the copies stop at the byte limit', () => {
    const plan = compile(encoderish(), { inPlace: true, stridedViews: true });
    const steps = new InvariantSteps(plan);
    steps.begin(bindingsKey(new Map([['batch', 1], ['seq', 5]])));
    plan.steps.forEach((s, k) => steps.keep(k, new Float32Array(4).fill(k)));
    const readsInput = (k: number): boolean => {
      const seen = new Set<number>();
      const visit = (id: number): boolean => {
        if (seen.has(id)) return false;
        seen.add(id);
        const n = plan.graph.nodes[id]!;
        return n.op === 'input' || n.inputs.some(visit);
      };
      return visit(plan.steps[k]!.node);
    };
    let kept = 0;
    plan.steps.forEach((_, k) => {
      const out = new Float32Array(4);
      const replayed = steps.replay(k, out);
      expect(replayed, `step ${k}`).toBe(!readsInput(k));
      if (replayed) {
        kept++;
        expect(Array.from(out)).toEqual([k, k, k, k]);
      }
    });
    expect(kept).toBeGreaterThan(0);
    expect(steps.bytes).toBe(kept * 16);
    // more than the limit: not kept
    steps.begin(bindingsKey(new Map([['batch', 1], ['seq', 6]])));
    const first = plan.steps.findIndex((_, k) => !readsInput(k));
    steps.keep(first, new Float32Array(INVARIANT_CACHE_BYTES / 4 + 1));
    expect(steps.bytes).toBe(0);
  });
});

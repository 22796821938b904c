import { GraphBuilder, ModelBuilder, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { cpuBackend, verify, type Backend } from '../src/index.ts';

/** A small attention graph with symbolic batch and sequence and token ids into a table. */
function smallGraph() {
  const m = new ModelBuilder();
  const ids = m.input('ids', 'i32', ['batch', 'seq'] as const);
  const x = m.embed(ids, m.param('emb', [11, 8] as const));
  const y = m.attention(x, x, x, 2, m.causalMask(ids));
  return m.build({ y: m.softmax(m.add(x, y)) });
}

/** The CPU backend with a planted bug: wrong answers once a sequence is longer than 3. */
const brokenBackend: Backend = {
  name: 'cpu',
  async prepare(graph, weights, options) {
    const inner = await cpuBackend.prepare(graph, weights, options);
    return {
      ...inner,
      async run(feeds: Readonly<Record<string, NDArray>>) {
        const out = await inner.run(feeds);
        const seq = feeds['ids']!.shape[1]!;
        if (seq > 3) (out['y']!.data as Float32Array)[0]! += 0.01;
        return out;
      },
    };
  },
};

describe('verify', () => {
  it('finds the CPU backend in agreement with the reference', async () => {
    const report = await verify(smallGraph(), { runs: 20, seed: 7 });
    expect(report.ok).toBe(true);
    expect(report.runs).toBe(20);
    expect(report.agreements[0]!.maxAbsError).toBeLessThan(1e-5);
  });

  it('draws scatter_add indices and cross-entropy labels inside their tables and classes', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['batch', 3]);
    const rows = b.add('scatter_add', [b.input('ids', 'i32', ['batch']), x], { rows: 2 });
    const loss = b.add('softmax_cross_entropy', [x, b.input('labels', 'i32', ['batch'])], { ignoreIndex: null });
    const report = await verify(b.build({ rows, loss }), { runs: 20, seed: 3 });
    expect(report.ok).toBe(true);
  });

  it('reports a shrunk counterexample when a backend disagrees', async () => {
    const report = await verify(smallGraph(), { backends: [brokenBackend], runs: 100, seed: 1 });
    expect(report.ok).toBe(false);
    const ids = report.counterexample!.inputs['ids']!;
    // shrinking reaches the smallest failing case: one row of exactly 4 tokens, all id 0
    expect(ids.shape).toEqual([1, 4]);
    expect(ids.values).toEqual([0, 0, 0, 0]);
    expect(report.counterexample!.output).toBe('y');
  });
});

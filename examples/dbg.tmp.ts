import { cpuBackend, referenceBackend, randomWeights } from '@loom/backends';
import { GraphBuilder, Q4 } from '@loom/graph';
for (const rows of [1, 2]) {
  const g = new GraphBuilder();
  const x = g.input('x', 'f32', [rows, 8]);
  const w = g.param('w', 'f32', [8, 8]);
  const graph = g.build({ y: g.add('matmul', [x, w]) });
  const weights = randomWeights(graph, 3);
  const feeds = { x: { dtype: 'f32' as const, shape: [rows, 8], data: Float32Array.from({ length: rows * 8 }, (_, i) => ((i * 37) % 11) - 5) } };
  const store = { ...Q4, group: 8, activations: 'int8' as const };
  for (const b of [cpuBackend, referenceBackend]) {
    const m = await b.prepare(graph, weights, { weightStore: store, cpu: { smallProduct: 0 } });
    console.log(rows, b.name, Array.from((await m.run(feeds))['y']!.data).map((v) => v.toFixed(3)).join(' '));
  }
}
process.exit(0);

import { cpuBackend, randomWeights, verify } from '@loom/backends';
import { compile, printPlan } from '@loom/compiler';
import { ModelBuilder } from '@loom/graph';

const m = new ModelBuilder();
const ids = m.input('ids', 'i32', ['batch', 'seq'] as const); // symbolic batch and sequence
const x = m.sinusoidalPosenc(m.embed(ids, m.param('embed', [1000, 64] as const), 8));
const y = m.attention(x, x, x, 4, m.causalMask(ids)); // multi-head self-attention
const graph = m.build({ y: m.addNorm(x, y, m.param('g', [64] as const), m.param('b', [64] as const)) });

console.log(printPlan(compile(graph))); // fused kernels and buffers
const weights = randomWeights(graph, 1); // or a Map<name, NDArray> from readSafetensors
const model = await cpuBackend.prepare(graph, weights);
const out = await model.run({ ids: { dtype: 'i32', shape: [2, 7], data: Int32Array.from({ length: 14 }, (_, i) => i * 37) } });
const report = await verify(graph, { backends: ['cpu'], runs: 5, weights }); // or ['cpu', 'webgpu', 'webgl']
console.log(`y: [${out['y']!.shape.join(', ')}]; verify: ${report.ok ? 'ok' : 'DISAGREES'}`);
model.dispose();

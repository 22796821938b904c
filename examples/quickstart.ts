/**
 * The README's library example, runnable: `npx tsx examples/quickstart.ts`.
 * Builds a small attention block, prints its plan, runs it on the CPU and checks it with verify().
 */
import { cpuBackend, randomWeights, verify } from '@loom/backends';
import { compile, printPlan } from '@loom/compiler';
import { ModelBuilder } from '@loom/graph';

export function buildBlock() {
  const m = new ModelBuilder();
  const ids = m.input('ids', 'i32', ['batch', 'seq'] as const); // symbolic batch and sequence
  const x = m.sinusoidalPosenc(m.embed(ids, m.param('embed', [1000, 64] as const), 8));
  const y = m.attention(x, x, x, 4, m.causalMask(ids)); // multi-head self-attention
  return m.build({ y: m.addNorm(x, y, m.param('g', [64] as const), m.param('b', [64] as const)) });
}

export async function main(): Promise<{ plan: string; shape: readonly number[]; ok: boolean }> {
  const graph = buildBlock();
  const plan = printPlan(compile(graph));
  const weights = randomWeights(graph, 1); // Map<name, NDArray>; real weights come from readSafetensors
  const model = await cpuBackend.prepare(graph, weights);
  const { y } = await model.run({ ids: { dtype: 'i32', shape: [2, 7], data: new Int32Array(14).map((_, i) => i * 37) } });
  const report = await verify(graph, { backends: ['cpu'], runs: 5, weights });
  return { plan, shape: y!.shape, ok: report.ok };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { plan, shape, ok } = await main();
  console.log(plan);
  console.log(`y: [${shape.join(', ')}]; verify: ${ok ? 'ok' : 'DISAGREES'}`);
}

/**
 * From "my variant" to "runs and is verified": a Llama-style block (RMSNorm, rotary positions,
 * grouped-query attention, SwiGLU) written with the builder, compiled, run, and checked against the
 * float64 reference on every backend this machine has. `npx tsx examples/my-variant.ts [backends]`
 */
import { randomWeights, verify } from '@loom/backends';
import { compile } from '@loom/compiler';
import { ModelBuilder } from '@loom/graph';

const [D, H, KV, F] = [64, 8, 2, 172]; // width, query heads, key/value heads, MLP width
const Dh = D / H;

export function buildVariant() {
  const m = new ModelBuilder();
  const ids = m.input('ids', 'i32', ['batch', 'seq'] as const);
  const x = m.embed(ids, m.param('embed', [512, D] as const));
  const n = m.rmsNorm(x, m.param('norm1', [D] as const), 1e-5);
  const heads = (w: string, count: number) => m.reshape(m.linear(n, m.param(w, [D, count * Dh] as const)), ['batch', 'seq', count, Dh] as const);
  const [qh, kh] = [m.rope(heads('wq', H), { theta: 500000 }), m.rope(heads('wk', KV), { theta: 500000 })]; // [B, T, heads, Dh]
  const flat = (t: typeof qh, count: number) => m.reshape(t, ['batch', 'seq', count * Dh] as const);
  const [q, k, v] = [flat(qh, H), flat(kh, KV), flat(heads('wv', KV), KV)];
  const attended = m.groupedAttention(q, k, v, H, KV, m.causalMask(ids));
  const h = m.add(x, m.linear(attended, m.param('wo', [D, D] as const)));
  const mlp = m.gluFfn(m.rmsNorm(h, m.param('norm2', [D] as const), 1e-5), m.param('gate', [D, F] as const), m.param('up', [D, F] as const), m.param('down', [F, D] as const));
  return m.build({ y: m.add(h, mlp) });
}

export async function main(backends = ['cpu']): Promise<{ kernels: number; ok: boolean; report: string }> {
  const graph = buildVariant();
  const kernels = compile(graph).steps.length; // what the compiler made of it
  const report = await verify(graph, { backends, runs: 4, weights: randomWeights(graph, 7) });
  const lines = report.agreements.map((a) => `${a.backend}: max |error| ${a.maxAbsError.toExponential(2)}`);
  return { kernels, ok: report.ok, report: lines.join('\n') };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { kernels, ok, report } = await main(process.argv[2]?.split(',') ?? ['cpu']);
  console.log(`${kernels} kernels\n${report}\n${ok ? 'ok: agrees with the float64 reference' : 'DISAGREES'}`);
}

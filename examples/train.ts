import { cpuBackend } from '@loom/backends';
import { grad, withCrossEntropyLoss } from '@loom/compiler';
import { ModelBuilder, type NDArray } from '@loom/graph';
import { initialWeights, Trainer } from '@loom/models';

// a one-layer causal model over 16 tokens, trained to predict each token plus one
const m = new ModelBuilder();
const ids = m.input('ids', 'i32', ['batch', 'seq'] as const);
const x = m.sinusoidalPosenc(m.embed(ids, m.param('embed', [16, 32] as const), Math.sqrt(32)));
const h = m.addNorm(x, m.attention(x, x, x, 2, m.causalMask(ids)), m.param('ln.weight', [32] as const), m.param('ln.bias', [32] as const));
const lossGraph = withCrossEntropyLoss(m.build({ logits: m.linear(h, m.param('head', [32, 16] as const)) }));

console.log(grad(lossGraph, { loss: 'loss' }).outputs.map((o) => o.name).join(' ')); // loss grad.embed grad.ln.weight grad.ln.bias grad.head
const trainer = await Trainer.create(cpuBackend, lossGraph, initialWeights(lossGraph, 1), { optimizer: { kind: 'adamw' }, schedule: { kind: 'cosine', lr: 1e-2, warmup: 10, total: 150 }, clipNorm: 1 });
const batch = (seed: number): Record<string, NDArray> => {
  const data = Int32Array.from({ length: 8 * 12 }, (_, i) => (i * 7 + seed * 13 + Math.floor(i / 12)) % 16);
  return { ids: { dtype: 'i32', shape: [8, 12], data }, labels: { dtype: 'i32', shape: [8, 12], data: data.map((t) => (t + 1) % 16) } };
};
const losses: number[] = [];
for (let step = 0; step < 150; step++) losses.push((await trainer.step(batch(step))).loss); // forward, backward and AdamW: one plan
console.log(`loss ${losses[0]!.toFixed(3)} -> ${losses.at(-1)!.toFixed(3)} in ${await trainer.steps()} steps`);
trainer.dispose();

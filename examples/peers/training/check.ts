/**
 * Smoke check of the training-step peers: runs a few steps of PyTorch (torch_train_step.py) and of
 * jax-js (jax-train-step.ts) on each model, one after the other, prints each peer's JSON, and
 * checks that both start from the same loss (same weights and batch) near ln(vocab).
 *
 *   npx tsx examples/peers/training/check.ts                       # 2 steps of each peer, both models
 *   npx tsx examples/peers/training/check.ts --model reverse --steps 20 --warmup 0   # loss falls?
 *   npx tsx examples/peers/training/check.ts --peers jax-js --jax-threads 2          # jax-js on 2 wasm threads
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jaxTrainStepMs, type TrainModel } from './jax-train-step.ts';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const steps = Number(flag('steps', '2'));
const warmup = Number(flag('warmup', '0'));
const threads = Number(flag('threads', '2'));
const jaxThreads = Number(flag('jax-threads', '1'));
const peers = flag('peers', 'pytorch,jax-js').split(',');
const models: TrainModel[] = flag('model', 'reverse,gpt2-5m').split(',') as TrainModel[];
const VOCAB: Record<TrainModel, number> = { reverse: 30, 'gpt2-5m': 8192 };

let failed = false;
for (const model of models) {
  const firstLoss: Record<string, number> = {};
  if (peers.includes('pytorch')) {
    const run = spawnSync('/usr/bin/python3', [join(here, 'torch_train_step.py'), '--model', model, '--threads', String(threads), '--steps', String(steps), '--warmup', String(warmup), '--print-losses'], { encoding: 'utf8' });
    if (run.status !== 0) {
      console.log(JSON.stringify({ peer: 'pytorch', model, error: (run.stderr || run.error?.message || `exit ${run.status}`).trim().split('\n').pop() }));
      failed = true;
    } else {
      const line = run.stdout.trim();
      console.log(line);
      const losses = (JSON.parse(line) as { losses: number[] }).losses;
      firstLoss['pytorch'] = losses[0]!;
    }
  }
  if (peers.includes('jax-js')) {
    const losses: number[] = [];
    try {
      const r = await jaxTrainStepMs(model, { steps, warmup, threads: jaxThreads, onLoss: (_, loss) => losses.push(Number(loss.toFixed(6))) });
      console.log(JSON.stringify({ peer: 'jax-js', version: r.version, backend: r.backend, model, median_ms: Number(r.medianMs.toFixed(3)), runs_ms: r.runsMs.map((x) => Number(x.toFixed(3))), params: r.params, losses }));
      firstLoss['jax-js'] = losses[0]!;
    } catch (e) {
      console.log(JSON.stringify({ peer: 'jax-js', model, error: e instanceof Error ? e.message : String(e) }));
      failed = true;
    }
  }
  const lnV = Math.log(VOCAB[model]);
  for (const [peer, loss] of Object.entries(firstLoss)) {
    if (Math.abs(loss - lnV) > 0.5) {
      console.log(`FAIL ${model} ${peer}: first loss ${loss} is not near ln(${VOCAB[model]}) = ${lnV.toFixed(3)}`);
      failed = true;
    }
  }
  if (firstLoss['pytorch'] !== undefined && firstLoss['jax-js'] !== undefined) {
    const diff = Math.abs(firstLoss['pytorch'] - firstLoss['jax-js']);
    console.log(`${model}: first loss pytorch ${firstLoss['pytorch']} jax-js ${firstLoss['jax-js']} (|diff| ${diff.toExponential(2)}, ln V ${lnV.toFixed(4)})`);
    if (diff > 1e-3) {
      console.log(`FAIL ${model}: the peers' first losses differ by ${diff}`);
      failed = true;
    }
  }
}
process.exitCode = failed ? 1 : 0;

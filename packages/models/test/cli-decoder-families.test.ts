/**
 * The new families through the command line, on checkpoint files written here (config.json and
 * model.safetensors with Hugging Face's names): logits and greedy generation against the float64
 * references, compile, verify and export, and `loom grad` under the checkpoint's own names (Phi-3's
 * fused qkv_proj, GPT-NeoX's per-head interleaved query_key_value joined back), its entries checked
 * against central differences of the float64 reference's loss.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maxAbsDiff, readSafetensors, type NDArray } from '@loom/graph';
import { writeSafetensorsFile } from '@loom/graph/node';
import { describe, expect, it } from 'vitest';
import { loom } from './cli-helpers.ts';
import { FAMILY_CASES, referenceGreedy } from './decoder-families-suite.ts';

const IDS = [3, 17, 42, 8, 8, 29, 1, 5];
const LABELS = [17, 42, 8, -100, 29, 1, 5, 33];

/** Mean cross-entropy of the float64 logits over the labelled positions (loom grad's loss). */
function referenceLoss(logits: number[][]): number {
  let total = 0;
  let count = 0;
  LABELS.forEach((label, t) => {
    if (label < 0) return;
    const row = logits[t]!;
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    total += lse - row[label]!;
    count++;
  });
  return total / count;
}

describe('loom generate | logits | compile | verify | export | grad on the new families', () => {
  const root = mkdtempSync(join(tmpdir(), 'loom-families-'));

  it.each(FAMILY_CASES)('%s', { timeout: 120_000 }, async (label, make) => {
    const c = make();
    const dir = join(root, label.split(' ')[0]!);
    const config = join(dir, 'config.json');
    const weights = join(dir, 'model.safetensors');
    mkdirSync(dir, { recursive: true });
    writeFileSync(config, JSON.stringify(c.config));
    await writeSafetensorsFile(weights, c.checkpoint);
    const model = ['--weights', weights, '--config', config];

    const logitsFile = join(dir, 'logits.safetensors');
    const logits = await loom('logits', ...model, '--ids', IDS.join(','), '--out', logitsFile);
    expect(logits.code, logits.stderr).toBe(0);
    const written = readSafetensors(new Uint8Array(readFileSync(logitsFile))).tensors.get('logits')!;
    expect(maxAbsDiff(written.data, c.forward(IDS).flat())).toBeLessThan(1e-4);

    const generated = await loom('generate', ...model, '--ids', '5,9,2', '--max-new-tokens', '8');
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout.trim()).toBe(referenceGreedy(c, [5, 9, 2], 8).slice(3).join(','));

    for (const args of [['compile', config], ['verify', config], ['export', '--format', 'onnx', ...model, '--out', join(dir, 'model.onnx')], ['export', '--format', 'ts', '--config', config, '--out', join(dir, 'model.ts')]]) {
      const r = await loom(...args);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(0);
    }

    const gradFile = join(dir, 'grad.safetensors');
    const grad = await loom('grad', ...model, '--ids', IDS.join(','), '--labels', LABELS.join(','), '--out', gradFile, '--quiet');
    expect(grad.code, grad.stderr).toBe(0);
    const grads = readSafetensors(new Uint8Array(readFileSync(gradFile))).tensors;
    // every checkpoint tensor has its gradient, under its own name and shape
    for (const [name, t] of c.checkpoint) expect(grads.get(`grad.${name}`)?.shape, name).toEqual(t.shape);
    expect(Math.abs(grads.get('loss')!.data[0]! - referenceLoss(c.forward(IDS)))).toBeLessThan(1e-5);
    // a few entries of the fused or renamed tensors against central differences of the float64 loss
    const fused = [...c.checkpoint.keys()].filter((n) => /qkv_proj|query_key_value|gate_up_proj|embed|layers\.1\..*norm|o_proj|dense\.weight/.test(n)).slice(0, 4);
    for (const name of fused) {
      const tensor = c.checkpoint.get(name)!;
      for (const index of [0, Math.floor(tensor.data.length / 2) + 1, tensor.data.length - 1]) {
        const fd = centralDifference(c, tensor, index);
        const got = grads.get(`grad.${name}`)!.data[index]!;
        expect(Math.abs(got - fd), `${name}[${index}]: loom ${got}, difference ${fd}`).toBeLessThan(2e-6 + 1e-4 * Math.abs(fd));
      }
    }
  });
});

function centralDifference(c: { forward(ids: number[]): number[][] }, tensor: NDArray, index: number): number {
  const h = 1e-3;
  const original = tensor.data[index]!;
  const data = tensor.data as Float32Array;
  // the checkpoint arrays are float32: the perturbation is what float32 holds
  data[index] = original + h;
  const up = referenceLoss(c.forward(IDS));
  const hUp = data[index]! - original;
  data[index] = original - h;
  const down = referenceLoss(c.forward(IDS));
  const hDown = original - data[index]!;
  data[index] = original;
  return (up - down) / (hUp + hDown);
}

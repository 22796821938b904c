import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { expectUserError, loom } from './cli-helpers.ts';
import { FIXTURES, fixtureTensors, tensor } from './helpers.ts';

/** `loom grad` on the training goldens' batches: the loss and every gradient under Hugging Face's names. */
const rows = (t: NDArray) => {
  const [n, width] = t.shape as [number, number];
  return Array.from({ length: n }, (_, r) => [...t.data.subarray(r * width, (r + 1) * width)].join(',')).join(';');
};

function relativeToMax(got: NDArray, want: NDArray): number {
  let max = 0;
  let err = 0;
  for (let i = 0; i < want.data.length; i++) {
    max = Math.max(max, Math.abs(want.data[i]!));
    err = Math.max(err, Math.abs(want.data[i]! - got.data[i]!));
  }
  return err / max;
}

describe('loom grad', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loom-grad-'));

  for (const model of ['gpt2-tiny', 'llama-tiny-dev']) {
    it(`${model}: the loss and every gradient equal PyTorch's (the training golden's batch)`, async () => {
      const golden = fixtureTensors(`${model}-train-golden.safetensors`);
      const out = join(dir, `${model}.safetensors`);
      const r = await loom('grad', '--weights', `${FIXTURES}${model}.safetensors`, '--config', `${FIXTURES}${model}.config.json`, '--ids', rows(tensor(golden, 'input_ids')), '--labels', rows(tensor(golden, 'labels')), '--out', out, '--quiet');
      expect(r.code, r.stderr).toBe(0);
      const written = readSafetensors(new Uint8Array(readFileSync(out))).tensors;
      const gradNames = [...golden.keys()].filter((n) => n.startsWith('grad.'));
      expect([...written.keys()].sort()).toEqual(['loss', ...gradNames].sort());
      expect(Math.abs(tensor(written, 'loss').data[0]! - tensor(golden, 'loss_f64').data[0]!) / tensor(golden, 'loss_f64').data[0]!).toBeLessThan(1e-6);
      for (const name of gradNames) expect(relativeToMax(tensor(written, name), tensor(golden, name)), name).toBeLessThan(1.5e-5);
      expect(r.stdout).toMatch(/^loss \d+\.\d+; \d+ gradients written to /);
    });
  }

  it('refuses a bad batch with the row and position', async () => {
    const args = ['--weights', `${FIXTURES}gpt2-tiny.safetensors`, '--config', `${FIXTURES}gpt2-tiny.config.json`, '--out', join(dir, 'bad.safetensors')];
    const ragged = await loom('grad', ...args, '--ids', '1,2,3;4,5', '--labels', '2,3,-100;5,-100');
    expect(ragged.code).toBe(1);
    expect(ragged.stderr).toMatch(/row 2 has 2 values, row 1 has 3: the rows of a batch must be of one length/);
    const letter = await loom('grad', ...args, '--ids', '1,x', '--labels', '2,-100');
    expect(letter.stderr).toMatch(/row 1: 'x' is not a non-negative integer/);
    expectUserError(await loom('grad', ...args, '--ids', '1,2', '--labels', '2,-100,-100'), /--ids is 1 rows of 2 and --labels 1 rows of 3/);
    expectUserError(await loom('grad', ...args, '--ids', '1,2;3,4', '--labels', '2,-100;4,50257'), /label 50257 at row 2, position 2 is neither -100 nor inside the vocabulary \(0 to 50256\)/);
    expectUserError(await loom('grad', ...args, '--ids', '1,4294967297', '--labels', '2,-100'), /--ids: 4294967297 \(row 1, position 2\) is beyond a 32-bit integer/);
    expectUserError(await loom('grad', '--weights', `${FIXTURES}reverse-transformer.safetensors`, '--config', `${FIXTURES}reverse.json`, '--out', join(dir, 'r.safetensors'), '--ids', '3,4', '--labels', '4,-100'), /loom grad takes causal LMs .* this is an encoder-decoder/);
  });
});

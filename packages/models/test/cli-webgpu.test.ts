/** The CLI's webgpu paths: generate, logits and verify on WebGPU (skipped locally without an adapter, failing in CI). */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maxAbsDiff, readSafetensors } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { requireBackend } from '../../backends/test/require-backend.ts';
import { loom } from './cli-helpers.ts';
import { FIXTURES, fixtureJson, fixtureTensors, tensor } from './helpers.ts';

const { backend: gpu } = await requireBackend('webgpu');
const gpt2 = ['--weights', join(FIXTURES, 'gpt2-tiny.safetensors'), '--config', join(FIXTURES, 'gpt2-tiny.config.json')];


describe.skipIf(!gpu)('loom on --backend webgpu', () => {
  it('generate (with the KV cache on the GPU) prints what the cpu backend prints', async () => {
    const args = ['generate', ...gpt2, '--prompt', 'Data visualization empowers users to', '--max-new-tokens', '8'];
    const onGpu = await loom(...args, '--backend', 'webgpu');
    const onCpu = await loom(...args, '--backend', 'cpu');
    expect(onGpu.code).toBe(0);
    expect(onGpu.stdout).toBe(onCpu.stdout);
  });

  it('logits writes [1, T, vocab] within 2e-5 of float64 PyTorch', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'loom-webgpu-')), 'logits.safetensors');
    const ids = fixtureJson<{ prompt_ids: number[] }>('gpt2-tiny.json').prompt_ids;
    const { code } = await loom('logits', ...gpt2, '--ids', ids.join(','), '--out', out, '--backend', 'webgpu');
    expect(code).toBe(0);
    const logits = readSafetensors(new Uint8Array(readFileSync(out))).tensors.get('logits')!;
    expect(logits.shape).toEqual([1, 6, 50257]);
    expect(maxAbsDiff(logits.data, tensor(fixtureTensors('gpt2-tiny-golden.safetensors'), 'logits_f64').data)).toBeLessThan(2e-5);
  });

  it('verify --backends cpu,webgpu agrees with the float64 reference', async () => {
    const { code, stdout } = await loom('verify', join(FIXTURES, 'gpt2-tiny.config.json'), '--backends', 'cpu,webgpu', '--runs', '2', '--max-seq', '4');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^(run \d: .*: cpu .*, webgpu .*\n){2}cpu: .*\nwebgpu: max \|error\| .*\nok: cpu, webgpu agree/);
  });
});

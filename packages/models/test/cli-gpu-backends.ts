/**
 * The CLI's paths on a GPU backend, written once for webgpu and webgl (cli-webgpu.test.ts,
 * cli-webgl.test.ts): reverse, generate (KV cache on the device), logits and verify. Skipped locally
 * without the backend, failing in CI (LOOM_REQUIRE_BACKENDS).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maxAbsDiff, readSafetensors } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { requireBackend } from '../../backends/test/require-backend.ts';
import { loom } from './cli-helpers.ts';
import { FIXTURES, fixtureJson, fixtureTensors, tensor } from './helpers.ts';

const gpt2 = ['--weights', join(FIXTURES, 'gpt2-tiny.safetensors'), '--config', join(FIXTURES, 'gpt2-tiny.config.json')];

export async function cliOnGpuBackend(name: 'webgpu' | 'webgl'): Promise<void> {
  const { backend } = await requireBackend(name);
  describe.skipIf(!backend)(`loom on --backend ${name}`, { timeout: 180_000 }, () => {
    it('reverse "hello world" prints dlrow olleh', async () => {
      expect(await loom('reverse', '--backend', name, 'hello world')).toEqual({ code: 0, stdout: 'dlrow olleh\n', stderr: '' });
    });

    it('generate (with the KV cache on the device) prints what the cpu backend prints', async () => {
      const args = ['generate', ...gpt2, '--prompt', 'Data visualization empowers users to', '--max-new-tokens', '8'];
      const onDevice = await loom(...args, '--backend', name);
      const onCpu = await loom(...args, '--backend', 'cpu');
      expect(onDevice.code, onDevice.stderr).toBe(0);
      // both runs' errors shown if either fails (once, under a loaded suite, the cpu run stopped after one token: its stderr was not kept)
      expect(onCpu.code, onCpu.stderr).toBe(0);
      expect(onDevice.stdout).toBe(onCpu.stdout);
    });

    it('logits writes [1, T, vocab] within 2e-5 of float64 PyTorch', async () => {
      const out = join(mkdtempSync(join(tmpdir(), `loom-${name}-`)), 'logits.safetensors');
      const ids = fixtureJson<{ prompt_ids: number[] }>('gpt2-tiny.json').prompt_ids;
      const { code } = await loom('logits', ...gpt2, '--ids', ids.join(','), '--out', out, '--backend', name);
      expect(code).toBe(0);
      const logits = readSafetensors(new Uint8Array(readFileSync(out))).tensors.get('logits')!;
      expect(logits.shape).toEqual([1, 6, 50257]);
      expect(maxAbsDiff(logits.data, tensor(fixtureTensors('gpt2-tiny-golden.safetensors'), 'logits_f64').data)).toBeLessThan(2e-5);
    });

    it(`verify --backends cpu,${name} agrees with the float64 reference`, async () => {
      const { code, stdout, stderr } = await loom('verify', join(FIXTURES, 'gpt2-tiny.config.json'), '--backends', `cpu,${name}`, '--runs', '2', '--max-seq', '4');
      expect(code, `${stdout}\n${stderr}`).toBe(0);
      expect(stdout).toMatch(new RegExp(`^(run \\d: .*: cpu .*, ${name} .*\\n){2}cpu: .*\\n${name}: max \\|error\\| .*\\nok: cpu, ${name} agree`));
    });
  });
}

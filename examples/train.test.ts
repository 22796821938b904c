import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { codeBlocks, readmeSection } from './readme.ts';

const example = new URL('./train.ts', import.meta.url);

it("README's training example is examples/train.ts, word for word", () => {
  const [block] = codeBlocks(readmeSection('Train'), 'ts');
  expect(block).toBe(readFileSync(example, 'utf8'));
});

it('the training example prints the gradient outputs and its loss falls below a tenth of where it started', () => {
  const out = execFileSync('npx', ['tsx', example.pathname], { encoding: 'utf8', timeout: 120_000 });
  expect(out).toContain('loss grad.embed grad.ln.weight grad.ln.bias grad.head');
  const [, first, last, steps] = /loss ([\d.]+) -> ([\d.]+) in (\d+) steps/.exec(out)!;
  expect(Number(steps)).toBe(150);
  expect(Number(last)).toBeLessThan(Number(first) / 10);
});

import { expect, it } from 'vitest';
import { readmeExample, runExample } from './readme.ts';

const example = new URL('./train.ts', import.meta.url);

it("README's training example is examples/train.ts, word for word", () => {
  const { block, file } = readmeExample('Train', example);
  expect(block).toBe(file);
});

it('the training example prints the gradient outputs and its loss falls below a tenth of where it started', () => {
  const out = runExample(example);
  expect(out).toContain('loss grad.embed grad.ln.weight grad.ln.bias grad.head');
  const [, first, last, steps] = /loss ([\d.]+) -> ([\d.]+) in (\d+) steps/.exec(out)!;
  expect(Number(steps)).toBe(150);
  expect(Number(last)).toBeLessThan(Number(first) / 10);
});

import { describe, expect, it } from 'vitest';
import { PRESETS, presetParamCount } from '../src/presets.ts';

/** Exact counts of the built graphs; GPT-2's equal Hugging Face's num_parameters(). */
const EXPECTED: Record<string, number> = {
  'transformer-base': 63_082_496,
  'transformer-big': 214_245_376,
  gpt2: 124_439_808,
  'gpt2-medium': 354_823_168,
  'gpt2-large': 774_030_080,
  'gpt2-xl': 1_557_611_200,
};

describe('preset parameter counts', () => {
  it('covers every preset', () => {
    expect(Object.keys(PRESETS).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [name, count] of Object.entries(EXPECTED)) {
    it(`${name}: ${count.toLocaleString('en-US')}`, () => {
      expect(presetParamCount(name)).toBe(count);
    });
  }

  it("the paper's models are within 5% of the 65M and 213M it reports", () => {
    expect(Math.abs(presetParamCount('transformer-base') / 65e6 - 1)).toBeLessThan(0.05);
    expect(Math.abs(presetParamCount('transformer-big') / 213e6 - 1)).toBeLessThan(0.05);
  });
});

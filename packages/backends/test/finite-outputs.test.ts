/** requireFiniteOutputs: NaN and infinities in outputs are errors naming the output; the wrapped model keeps what it can do. */
import { GraphBuilder, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { cpuBackend, NonFiniteError, requireFiniteOutputs, StateStore, type Backend } from '../src/index.ts';

const f32 = (values: number[]): NDArray => ({ dtype: 'f32', shape: [values.length], data: Float32Array.from(values) });
const negate = () => {
  const b = new GraphBuilder();
  return b.build({ y: b.add('neg', [b.input('x', 'f32', [1])]) });
};

describe('requireFiniteOutputs', () => {
  it('refuses an output holding NaN, naming it and the position; finite outputs pass', async () => {
    const b = new GraphBuilder();
    const y = b.add('log', [b.input('x', 'f32', [3])]);
    const model = await requireFiniteOutputs(cpuBackend).prepare(b.build({ y }), new Map());
    expect((await model.run({ x: f32([1, 2, 3]) }))['y']!.data[0]).toBe(0);
    await expect(model.run({ x: f32([1, -1, 3]) })).rejects.toThrow(NonFiniteError);
    await expect(model.run({ x: f32([1, -1, 3]) })).rejects.toThrow(/output 'y' holds NaN at/);
    model.dispose();
  });

  it("keeps the model's readState (a trainer on a GPU backend reads its weights back through it)", async () => {
    const read: string[] = [];
    const gpuLike: Backend = {
      name: 'webgpu',
      prepare: async () => ({ state: new StateStore(), run: async () => ({}), dispose: () => {}, readState: async (name: string) => (read.push(name), f32([7])) }),
    };
    const model = await requireFiniteOutputs(gpuLike).prepare(negate(), new Map());
    expect(model.readState).toBeDefined();
    expect((await model.readState!('w')).data[0]).toBe(7);
    expect(read).toEqual(['w']);
    const cpuModel = await requireFiniteOutputs(cpuBackend).prepare(negate(), new Map());
    expect(cpuModel.readState).toBeUndefined();
    cpuModel.dispose();
  });
});

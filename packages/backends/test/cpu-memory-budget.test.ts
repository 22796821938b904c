import { GraphBuilder } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { cpuBackend, MemoryBudgetError } from '../src/index.ts';

describe('cpu memory budget', () => {
  it('a small graph declaring a huge constant is refused at prepare, with the numbers', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [1]);
    const g = b.build({ y: b.add('add', [b.constant(1, [2000, 2000]), x]) });
    const error = await cpuBackend.prepare(g, new Map(), { maxMemory: 2 ** 20, cpu: { threads: 1 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MemoryBudgetError);
    expect((error as Error).message).toMatch(/cpu: the model needs 15\.3 MiB \(weights 0\.0 MiB, constants 15\.3 MiB\), above the memory budget of 1\.0 MiB \(prepare option maxMemory/);
  });

  it('a run whose sizes need more than the budget is refused before allocating, naming the sizes', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['seq', 64]);
    const g = b.build({ y: b.add('exp', [b.add('neg', [x])]) });
    const model = await cpuBackend.prepare(g, new Map(), { maxMemory: 2 ** 20, cpu: { threads: 1 } });
    const small = { x: { dtype: 'f32' as const, shape: [10, 64], data: new Float32Array(640) } };
    expect((await model.run(small))['y']!.shape).toEqual([10, 64]);
    const big = { x: { dtype: 'f32' as const, shape: [10_000, 64], data: new Float32Array(640_000) } };
    await expect(model.run(big)).rejects.toThrow(/cpu: this run needs .*intermediates, outputs and states [\d.]+ MiB at seq=10000\), above the memory budget of 1\.0 MiB/);
    model.dispose();
  });
});

describe('the WebAssembly heap past its 4 GiB', () => {
  it('a block a 32-bit memory cannot hold is a typed error naming the limit and the ways around it, before growing anything', async () => {
    const { WasmRuntime } = await import('../src/cpu/wasm-runtime/runtime.ts');
    const { WasmHeapError } = await import('../src/cpu/wasm-runtime/heap.ts');
    const heap = WasmRuntime.get().heap;
    const size = heap.memory.buffer.byteLength;
    const error = (() => {
      try {
        heap.alloc(5 * 2 ** 30);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(WasmHeapError);
    expect((error as Error).message).toMatch(/^cpu: WebAssembly memory cannot grow to \d+ MiB \(\d+ MiB in use; a 32-bit WebAssembly memory holds at most 4096 MiB, and this engine or machine may allow less\): store the weights in fewer bytes \(weightStore 'bf16', 'q8' or 'q4'; --weight-store\), shorten the sequence or the batch, or run on a GPU backend$/);
    expect(heap.memory.buffer.byteLength).toBe(size);
  });
});

import { LoomError, type Graph, type Weights } from '@loom/graph';
import { compile } from '@loom/compiler';
import type { Backend, PrepareOptions, PreparedModel } from '../backend.ts';
import { backendCompileOptions } from '../compile-options.ts';
import { CpuProgram } from './cpu-program.ts';
import { applyWeightStore } from '../weight-store.ts';

/**
 * Float32 on the CPU: the graph is compiled to a Plan (with in-place updates allowed), each kernel
 * is rendered to a JavaScript function, and matmuls run on a SIMD WebAssembly GEMM.
 */
export const cpuBackend: Backend = {
  name: 'cpu',
  async prepare(graph: Graph, weights: Weights, options: PrepareOptions = {}): Promise<PreparedModel & { program: CpuProgram }> {
    const stored = applyWeightStore('cpu', graph, weights, options.weightStore, options.quantizedWeights);
    const cpu = { ...options.cpu, ...(options.weightStore === 'bf16' ? { weightStore: 'bf16' as const } : {}), ...(options.maxMemory !== undefined ? { maxMemory: options.maxMemory } : {}) };
    const program = await CpuProgram.create(compile(stored.graph, { ...backendCompileOptions('cpu'), intermediates: options.intermediates }), stored.weights, options.state, cpu);
    let disposed = false;
    return {
      program,
      state: program.state,
      async run(feeds) {
        if (disposed) throw new LoomError('disposed', 'cpu: the model was disposed');
        return program.run(feeds);
      },
      dispose() {
        if (!disposed) program.dispose();
        disposed = true;
      },
    };
  },
};

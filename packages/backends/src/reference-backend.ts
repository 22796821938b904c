import { interpret, LoomError, nodeName, graphInputs, resolveShape, stateNames, bindInputs, withPrecision, type Graph, type NDArray, type Weights } from '@loom/graph';
import { withIntermediates } from '@loom/compiler';
import type { Backend, PrepareOptions, PreparedModel } from './backend.ts';
import { StateStore } from './state-store.ts';
import { applyWeightStore } from './weight-store.ts';

/** The float64 reference interpreter as a backend: the oracle, exposed for `verify` and debugging. */
export const referenceBackend: Backend = {
  name: 'reference',
  async prepare(given: Graph, givenWeights: Weights, options: PrepareOptions = {}): Promise<PreparedModel> {
    let disposed = false;
    // a quantized store is a graph of quantized products: the interpreter runs them as dequantize + matmul
    const stored = applyWeightStore('reference', given, givenWeights, options.weightStore, options.quantizedWeights);
    const weights = stored.weights;
    const graph = options.intermediates ? withIntermediates(stored.graph, options.intermediates).graph : stored.graph;
    // widen the weights once, not on every run
    const wide: Weights = new Map([...weights].map(([name, w]) => [name, withPrecision(w, 'f64')]));
    const state = options.state ?? new StateStore();
    const states = stateNames(graph);
    return {
      state,
      async run(feeds) {
        if (disposed) throw new LoomError('disposed', 'reference: the model was disposed');
        const all: Record<string, NDArray> = { ...feeds };
        if (states.size > 0) {
          const bindings = bindInputs(graph, feeds, { optional: states });
          for (const node of graphInputs(graph)) {
            const name = nodeName(node)!;
            if (!states.has(name)) continue;
            if (feeds[name]) state.set(name, feeds[name]);
            const shape = resolveShape(node.type.shape, bindings);
            all[name] = state.ensure(name, node.type.dtype, shape, (n) => (node.type.dtype === 'i32' ? new Int32Array(n) : new Float64Array(n)));
          }
        }
        const outputs = interpret(graph, all, wide, { precision: 'f64' });
        for (const name of states) {
          state.set(name, outputs[name]!);
          delete outputs[name];
        }
        return outputs;
      },
      dispose() {
        disposed = true;
      },
    };
  },
};

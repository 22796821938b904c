import { GraphBuilder, graphParams, nodeName, type Graph, type NodeRef } from '@loom/graph';
import { grad, GradError } from './grad.ts';

/**
 * Helpers for gradient property tests (the compiler's finite-difference property, every backend's
 * backward conformance): a scalar loss over a random graph's outputs, and the parameters grad() can
 * differentiate it with respect to.
 */

/**
 * The graph with one output, `loss` = sum over its f32 outputs o of sum(sin(o)) + 0.01 sum(o^2): it
 * reads every f32 output nonlinearly. Undefined when the graph has no f32 output.
 */
export function withScalarLoss(graph: Graph): Graph | undefined {
  const b = new GraphBuilder();
  const map: NodeRef[] = [];
  for (const n of graph.nodes) map[n.id] = b.add(n.op, n.inputs.map((i) => map[i]!), { ...n.attrs }, n.source ?? '');
  const terms = graph.outputs
    .filter((o) => graph.nodes[o.node]!.type.dtype === 'f32')
    .map((o) => {
      const y = map[o.node]!;
      const axes = b.typeOf(y).shape.map((_, i) => i);
      const sum = (x: NodeRef) => (axes.length === 0 ? x : b.add('reduce_sum', [x], { axes }));
      return b.add('add', [sum(b.add('sin', [y])), b.add('mul', [sum(b.add('mul', [y, y])), b.constant(0.01)])]);
    });
  if (terms.length === 0) return undefined;
  return b.build({ loss: terms.reduce((p, t) => b.add('add', [p, t])) });
}

/** The f32 parameters a gradient of `loss` exists for: grad() refuses those the loss reads only through integer values. */
export function differentiableParams(graph: Graph, loss = 'loss'): string[] {
  let wrt = graphParams(graph).filter((p) => p.type.dtype === 'f32').map((p) => nodeName(p)!);
  for (;;) {
    try {
      grad(graph, { loss, wrt });
      return wrt;
    } catch (e) {
      const cut = e instanceof GradError ? /reads parameter '([^']+)' only through/.exec(e.message) : null;
      if (!cut) throw e;
      wrt = wrt.filter((name) => name !== cut[1]);
    }
  }
}

import { z } from 'zod';
import { defineOp, typeRule } from '../../op-def.ts';
import { dimEquals, formatShape } from '../../shape.ts';
import { activate } from './ffn.ts';
import { GLU_ACTIVATIONS } from './glu-ffn.ts';

/**
 * A sparse mixture of gated experts (Shazeer et al. 2017; Mixtral, Jiang et al. 2024):
 *   x [..., D], router [D, E], w_gate and w_up [E, D, F], w_down [E, F, D] -> [..., D]
 * The router's softmax picks each token's k experts (top_k: ties to the lower expert, as torch.topk);
 * their probabilities, renormalized to sum to 1 (Mixtral) or not (`renormalize: false`), weigh the
 * experts' GLU outputs down(act(x gate_e) * (x up_e)). The decomposition is sparse: expert_matmul
 * multiplies each token by the weights of its k experts only, so the multiply-adds are k / E of
 * running every expert on every token.
 */
export const moeFfn = defineOp({
  name: 'moe_ffn',
  category: 'composite',
  summary: "a token's top-k experts (gated MLPs) weighted by the router's softmax",
  attrs: z.object({ k: z.number().int().positive(), activation: z.enum(GLU_ACTIVATIONS).default('silu'), renormalize: z.boolean().default(true) }).strict(),
  inputs: ['x', 'router', 'w_gate', 'w_up', 'w_down'],
  minInputs: 5,
  infer([x, router, gate, up, down], a) {
    typeRule([x, router, gate, up, down].every((t) => t!.dtype === 'f32'), 'needs f32 inputs');
    const d = x!.shape[x!.shape.length - 1]!;
    typeRule(router!.shape.length === 2 && dimEquals(router!.shape[0]!, d), `router must be [${d}, experts], got ${formatShape(router!.shape)}`);
    const e = router!.shape[1]!;
    typeRule(typeof e === 'number' && a.k <= e, `k = ${a.k} must be at most the ${e} experts`);
    const f = gate!.shape[2]!;
    typeRule(gate!.shape.length === 3 && dimEquals(gate!.shape[0]!, e) && dimEquals(gate!.shape[1]!, d), `w_gate must be [${e}, ${d}, d_ff], got ${formatShape(gate!.shape)}`);
    typeRule(up!.shape.length === 3 && [e, d, f].every((s, i) => dimEquals(up!.shape[i]!, s)), `w_up must be [${e}, ${d}, ${f}] like w_gate, got ${formatShape(up!.shape)}`);
    typeRule(down!.shape.length === 3 && [e, f, d].every((s, i) => dimEquals(down!.shape[i]!, s)), `w_down must be [${e}, ${f}, ${d}], got ${formatShape(down!.shape)}`);
    return x!;
  },
  decompose(b, [x, router, gate, up, down], a) {
    const shape = b.typeOf(x!).shape;
    const lead = shape.slice(0, -1);
    const d = shape[shape.length - 1]!;
    const probs = b.add('softmax', [b.add('linear', [x!, router!])], { axis: -1 }); // (..., E); linear: x may be one vector
    const picked = b.add('top_k', [probs], { k: a.k, output: 'values' }); // (..., k)
    const ids = b.add('top_k', [probs], { k: a.k, output: 'indices' });
    const weights = a.renormalize ? b.add('div', [picked, b.add('reduce_sum', [picked], { axes: [-1], keepDims: true })]) : picked;
    const rows = b.add('reshape', [x!], { shape: [...lead, 1, d] }); // every expert of a token reads its one row
    const h = b.add('mul', [activate(b, a.activation, b.add('expert_matmul', [rows, gate!, ids])), b.add('expert_matmul', [rows, up!, ids])]); // (..., k, F)
    // each expert's weight scales its hidden row before the down projection (one elementwise pass with the gate's)
    const weighted = b.add('mul', [h, b.add('reshape', [weights], { shape: [...lead, a.k, 1] })]);
    return b.add('expert_matmul', [weighted, down!, ids], { sum: true }); // the k experts' outputs added: (..., D)
  },
});

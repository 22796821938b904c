import { z } from 'zod';
import { defineOp, typeRule } from '../../op-def.ts';
import { dimEquals } from '../../shape.ts';
import { activate } from './ffn.ts';

/** The gate's activation: silu for SwiGLU (Llama, Mistral, Qwen2), gelu or gelu_tanh for GeGLU (Gemma). */
export const GLU_ACTIVATIONS = ['silu', 'gelu', 'gelu_tanh'] as const;
export type GluActivation = (typeof GLU_ACTIVATIONS)[number];

/**
 * A gated feed-forward network (Shazeer, "GLU Variants Improve Transformer"):
 *   (act(x @ W_gate) * (x @ W_up)) @ W_down,   W_gate, W_up [D, F], W_down [F, D]
 * with silu(x) = x * sigmoid(x). No biases (none of the models that use it has them).
 */
export const gluFfn = defineOp({
  name: 'glu_ffn',
  category: 'composite',
  summary: 'down(act(gate(x)) * up(x)): SwiGLU / GeGLU',
  attrs: z.object({ activation: z.enum(GLU_ACTIVATIONS).default('silu') }).strict(),
  inputs: ['x', 'w_gate', 'w_up', 'w_down'],
  minInputs: 4,
  infer([x, gate, up, down]) {
    typeRule([x, gate, up, down].every((t) => t!.dtype === 'f32'), 'needs f32 inputs');
    typeRule([gate, up, down].every((t) => t!.shape.length === 2), 'w_gate, w_up and w_down must be [in, out]');
    const d = x!.shape[x!.shape.length - 1]!;
    const f = gate!.shape[1]!;
    typeRule(dimEquals(gate!.shape[0]!, d), `w_gate must be [${d}, d_ff], got [${gate!.shape.join(', ')}]`);
    typeRule(dimEquals(up!.shape[0]!, d) && dimEquals(up!.shape[1]!, f), `w_up must be [${d}, ${f}] like w_gate, got [${up!.shape.join(', ')}]`);
    typeRule(dimEquals(down!.shape[0]!, f) && dimEquals(down!.shape[1]!, d), `w_down must be [${f}, ${d}], got [${down!.shape.join(', ')}]`);
    return x!;
  },
  decompose(b, [x, gate, up, down], a) {
    // linear (not matmul): x may be a single vector
    const g = b.add('linear', [x!, gate!]);
    const activated = activate(b, a.activation, g);
    return b.add('linear', [b.add('mul', [activated, b.add('linear', [x!, up!])]), down!]);
  },
});

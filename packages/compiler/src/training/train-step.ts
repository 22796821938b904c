import { GraphBuilder, LoomError, nodeName, type Graph, type NodeRef, type TensorType } from '@loom/graph';
import { grad, gradName, type GradOptions } from '../autodiff/grad.ts';
import type { GradEmitter } from '../autodiff/emit.ts';
import { learningRate, type LrSchedule } from './lr-schedule.ts';
import { decaysByDefault, optimizerStates, optimizerUpdate, type OptimizerSpec } from './optimizers.ts';

/** A training step that cannot be built (a bad option). */
export class TrainStepError extends LoomError {
  constructor(message: string) {
    super('train-step', message);
  }
}

export interface TrainStepOptions {
  /** The f32 scalar output to minimize. */
  readonly loss: string;
  readonly optimizer: OptimizerSpec;
  /** Default: a constant rate of 1e-3. */
  readonly schedule?: LrSchedule;
  /** Parameters trained (default: every f32 param); the others stay weights. */
  readonly wrt?: readonly string[];
  /** Whether weight decay applies to a parameter (default: matrices yes, vectors such as norms and biases no). */
  readonly decay?: (name: string, type: TensorType) => boolean;
  /** Scale the gradients so their global L2 norm is at most this (as torch.nn.utils.clip_grad_norm_). */
  readonly clipNorm?: number;
  /** Micro-batches per update: gradients are summed over them and averaged at the update (default 1). */
  readonly accumulate?: number;
  /** Forward outputs to keep (e.g. logits for accuracy). */
  readonly keep?: readonly string[];
  /** Recompute each block's activations in the backward pass (GradOptions.recompute): less memory, more compute. */
  readonly recompute?: GradOptions['recompute'];
}

/** The names of a training step's states, for parameter `p`: its optimizer states, its gradient accumulator. */
export const TRAIN_STATE = {
  step: 'opt.step',
  micro: 'opt.micro',
  of: (param: string, state: string) => `opt.${state}.${param}`,
  accumulator: (param: string) => `opt.acc.${param}`,
} as const;

/**
 * One training step as one graph, compiled to one plan: forward, backward (grad()), the optimizer's
 * update of every trained parameter, the learning-rate schedule, gradient clipping and accumulation.
 * Trained parameters become states (graph inputs and outputs of the same name), as do the
 * optimizer's moments (`opt.m.<p>`, `opt.v.<p>`, `opt.buf.<p>`), the step count `opt.step` (i32 [1],
 * updates done) and, with `accumulate` > 1, `opt.acc.<p>` and `opt.micro`: a run reads them from the
 * model's StateStore (zeros the first time) and writes their next values there, so nothing travels
 * to the host between steps but what the caller asks for. Outputs: the loss, `lr` and `grad_norm`
 * (f32 [1]: the rate and the global gradient norm of this step's update, 0 on a micro-batch that
 * only accumulates), and `keep`. Put the initial weights into the store before the first run.
 */
export function trainStepGraph(graph: Graph, options: TrainStepOptions): Graph {
  const accumulate = options.accumulate ?? 1;
  if (!(Number.isInteger(accumulate) && accumulate >= 1)) throw new TrainStepError(`train step: accumulate must be a positive integer, got ${accumulate}`);
  if (options.clipNorm !== undefined && !(options.clipNorm > 0)) throw new TrainStepError(`train step: clipNorm must be positive, got ${options.clipNorm}`);
  const backward = grad(graph, { loss: options.loss, ...(options.wrt ? { wrt: options.wrt } : {}), ...(options.keep ? { keep: options.keep } : {}), ...(options.recompute ? { recompute: options.recompute } : {}) });
  const trained = backward.outputs.filter((o) => o.name.startsWith('grad.')).map((o) => o.name.slice('grad.'.length));
  const trainedSet = new Set(trained);
  for (const name of [...trained.flatMap((p) => [TRAIN_STATE.accumulator(p), ...optimizerStates(options.optimizer).map((s) => TRAIN_STATE.of(p, s))]), TRAIN_STATE.step, TRAIN_STATE.micro, 'lr', 'grad_norm']) {
    if (backward.nodes.some((n) => (n.op === 'input' || n.op === 'param') && nodeName(n) === name)) throw new TrainStepError(`train step: the graph already has a tensor named '${name}', which the training step uses`);
  }

  // the forward and backward graph, trained parameters turned into state inputs of the same name
  const b = new GraphBuilder();
  const map: NodeRef[] = [];
  const params = new Map<string, NodeRef>();
  for (const n of backward.nodes) {
    const name = nodeName(n);
    if (n.op === 'param' && trainedSet.has(name!)) {
      map[n.id] = b.add('input', [], { ...n.attrs }, n.source ?? '');
      params.set(name!, map[n.id]!);
    } else map[n.id] = b.add(n.op, n.inputs.map((i) => map[i]!), { ...n.attrs }, n.source ?? '');
  }
  const out = (name: string) => map[backward.outputs.find((o) => o.name === name)!.node]!;
  const emit: GradEmitter = {
    add: (op, inputs, attrs = {}) => b.add(op, inputs, attrs, 'train step'),
    constant: (value, shape = [], dtype = 'f32') => b.add('constant', [], { dtype, shape: [...shape], values: typeof value === 'number' ? [value] : [...value] }, 'train step'),
    typeOf: (ref) => b.typeOf(ref),
  };
  const c = (v: number) => emit.constant(v);
  const i32 = (v: number) => emit.constant(v, [], 'i32');
  const state = (name: string, type: TensorType) => b.add('input', [], { name, dtype: type.dtype, shape: [...type.shape] }, 'train step');

  // accumulation: an update happens on the micro-batch that completes `accumulate` of them
  const step = state(TRAIN_STATE.step, { dtype: 'i32', shape: [1] });
  let apply: NodeRef | undefined;
  let micro: NodeRef | undefined;
  if (accumulate > 1) {
    const counted = emit.add('add', [state(TRAIN_STATE.micro, { dtype: 'i32', shape: [1] }), i32(1)]);
    apply = emit.add('equal', [counted, i32(accumulate)]);
    micro = emit.add('where', [apply, i32(0), counted]);
  }
  const nextStep = apply === undefined ? emit.add('add', [step, i32(1)]) : emit.add('add', [step, apply]);
  // at least 1: a micro-batch that only accumulates computes an update it throws away, from step 0
  const t = emit.add('maximum', [emit.add('cast', [nextStep], { dtype: 'f32' }), c(1)]);

  // the gradients of this update: summed over the micro-batches, averaged
  const grads = new Map<string, NodeRef>();
  const accumulators = new Map<string, NodeRef>();
  for (const p of trained) {
    const g = out(gradName(p));
    if (accumulate === 1) {
      grads.set(p, g);
      continue;
    }
    const sum = emit.add('add', [state(TRAIN_STATE.accumulator(p), b.typeOf(g)), g]);
    grads.set(p, emit.add('mul', [sum, c(1 / accumulate)]));
    accumulators.set(p, emit.add('where', [apply!, c(0), sum]));
  }
  let gradNorm = emit.constant(0, [1]);
  if (trained.length > 0) {
    const squares = trained.map((p) => {
      const g = grads.get(p)!;
      const axes = b.typeOf(g).shape.map((_, i) => i);
      const sq = emit.add('mul', [g, g]);
      return axes.length > 0 ? emit.add('reduce_sum', [sq], { axes, keepDims: false }) : sq;
    });
    gradNorm = emit.add('reshape', [emit.add('sqrt', [squares.reduce((s, x) => emit.add('add', [s, x]))])], { shape: [1] });
  }
  if (options.clipNorm !== undefined) {
    const scale = emit.add('minimum', [c(1), emit.add('div', [c(options.clipNorm), emit.add('add', [gradNorm, c(1e-6)])])]);
    for (const p of trained) grads.set(p, emit.add('mul', [grads.get(p)!, scale]));
  }
  const lr = learningRate(emit, options.schedule ?? { kind: 'constant', lr: 1e-3 }, t);

  const outputs: Record<string, NodeRef> = { [options.loss]: out(options.loss) };
  for (const name of options.keep ?? []) outputs[name] = out(name);
  const onApply = (next: NodeRef, current: NodeRef) => (apply === undefined ? next : emit.add('where', [apply, next, current]));
  for (const p of trained) {
    const param = params.get(p)!;
    const type = b.typeOf(param);
    const states = Object.fromEntries(optimizerStates(options.optimizer).map((s) => [s, state(TRAIN_STATE.of(p, s), type)]));
    const decay = (options.decay ?? ((_, t) => decaysByDefault(t)))(p, type);
    const updated = optimizerUpdate(emit, options.optimizer, { param, grad: grads.get(p)!, states, decay }, lr, t);
    outputs[p] = onApply(updated.param, param);
    for (const [s, next] of Object.entries(updated.states)) outputs[TRAIN_STATE.of(p, s)] = onApply(next, states[s]!);
    if (accumulators.has(p)) outputs[TRAIN_STATE.accumulator(p)] = accumulators.get(p)!;
  }
  outputs[TRAIN_STATE.step] = nextStep;
  if (micro !== undefined) outputs[TRAIN_STATE.micro] = micro;
  outputs['lr'] = apply === undefined ? lr : emit.add('where', [apply, lr, c(0)]);
  outputs['grad_norm'] = apply === undefined ? gradNorm : emit.add('where', [apply, gradNorm, c(0)]);
  return b.build(outputs);
}

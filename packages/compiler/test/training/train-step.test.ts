/**
 * The training step as one graph (trainStepGraph), run by the float64 interpreter step after step
 * with its states carried over, against the same optimizers written as plain loops from PyTorch's
 * formulas (torch.optim.SGD, Adam, AdamW), and the schedules, clipping and accumulation against
 * their definitions.
 */
import { GraphBuilder, interpret, mulberry32, stateNames, type Graph, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { learningRateAt, TRAIN_STATE, trainStepGraph, type LrSchedule, type OptimizerSpec, type TrainStepOptions } from '../../src/index.ts';

const random = mulberry32(3);
const f64 = (shape: readonly number[], values?: readonly number[]): NDArray => ({ dtype: 'f32', shape: [...shape], data: Float64Array.from(values ?? Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => random() * 2 - 1)) });

/** Least squares: loss = mean((x W + b - y)^2) over the batch, W [3, 2], b [2]. */
function regression(): Graph {
  const g = new GraphBuilder();
  const x = g.input('x', 'f32', ['batch', 3]);
  const err = g.add('sub', [g.add('add', [g.add('matmul', [x, g.param('W', 'f32', [3, 2])]), g.param('b', 'f32', [2])]), g.input('y', 'f32', ['batch', 2])]);
  return g.build({ loss: g.add('reduce_mean', [g.add('mul', [err, err])], { axes: [0, 1] }) });
}

/** Runs `steps` steps of the step graph on the interpreter, states carried from run to run; returns the states and each step's outputs. */
function train(step: Graph, init: Map<string, NDArray>, batches: readonly Record<string, NDArray>[]): { states: Map<string, NDArray>; outputs: Record<string, NDArray>[] } {
  const names = stateNames(step);
  const states = new Map(init);
  const outputs: Record<string, NDArray>[] = [];
  for (const feeds of batches) {
    const stateFeeds = Object.fromEntries([...names].map((n) => [n, states.get(n) ?? zerosOf(step, n)]));
    const out = interpret(step, { ...feeds, ...stateFeeds }, new Map());
    for (const n of names) states.set(n, out[n]!);
    outputs.push(out);
  }
  return { states, outputs };
}

function zerosOf(graph: Graph, name: string): NDArray {
  const node = graph.nodes.find((n) => n.op === 'input' && n.attrs['name'] === name)!;
  const shape = node.type.shape as number[];
  const size = shape.reduce((p, d) => p * d, 1);
  return { dtype: node.type.dtype, shape, data: node.type.dtype === 'i32' ? new Int32Array(size) : new Float64Array(size) };
}

/** The regression's gradient by hand: dW = 2/(N*2) x^T err, db = 2/(N*2) sum(err). */
function handGradient(W: Float64Array, b: Float64Array, x: NDArray, y: NDArray): { dW: Float64Array; db: Float64Array; loss: number } {
  const n = x.shape[0]!;
  const dW = new Float64Array(6);
  const db = new Float64Array(2);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 2; j++) {
      let pred = b[j]!;
      for (let k = 0; k < 3; k++) pred += x.data[i * 3 + k]! * W[k * 2 + j]!;
      const err = pred - y.data[i * 2 + j]!;
      loss += err * err;
      const scale = (2 * err) / (n * 2);
      db[j]! += scale;
      for (let k = 0; k < 3; k++) dW[k * 2 + j]! += scale * x.data[i * 3 + k]!;
    }
  }
  return { dW, db, loss: loss / (n * 2) };
}

/** PyTorch's optimizers as loops over flat arrays. */
function torchStep(spec: OptimizerSpec, lr: number, t: number, p: Float64Array, g: Float64Array, s: Record<string, Float64Array>, decay: boolean): void {
  const wd = decay ? (spec.weightDecay ?? (spec.kind === 'adamw' ? 0.01 : 0)) : 0;
  for (let i = 0; i < p.length; i++) {
    if (spec.kind === 'sgd') {
      let d = g[i]! + wd * p[i]!;
      const mu = spec.momentum ?? 0;
      if (mu > 0) {
        s['buf']![i] = mu * s['buf']![i]! + d;
        d = spec.nesterov ? d + mu * s['buf']![i]! : s['buf']![i]!;
      }
      p[i]! -= lr * d;
      continue;
    }
    const [b1, b2] = spec.betas ?? [0.9, 0.999];
    const grad = spec.kind === 'adam' ? g[i]! + wd * p[i]! : g[i]!;
    if (spec.kind === 'adamw') p[i]! *= 1 - lr * wd;
    s['m']![i] = b1 * s['m']![i]! + (1 - b1) * grad;
    s['v']![i] = b2 * s['v']![i]! + (1 - b2) * grad * grad;
    const mHat = s['m']![i]! / (1 - b1 ** t);
    const vHat = s['v']![i]! / (1 - b2 ** t);
    p[i]! -= (lr * mHat) / (Math.sqrt(vHat) + (spec.eps ?? 1e-8));
  }
}

const batches = Array.from({ length: 5 }, () => ({ x: f64([4, 3]), y: f64([4, 2]) }));
const initial = new Map([['W', f64([3, 2])], ['b', f64([2])]]);
const init = () => new Map(initial);

describe('a training step as one graph', () => {
  it.each<[string, OptimizerSpec]>([
    ['sgd', { kind: 'sgd' }],
    ['sgd with momentum and weight decay', { kind: 'sgd', momentum: 0.9, weightDecay: 0.1 }],
    ['sgd with nesterov momentum', { kind: 'sgd', momentum: 0.8, nesterov: true }],
    ['adam with weight decay', { kind: 'adam', weightDecay: 0.05 }],
    ['adamw', { kind: 'adamw', betas: [0.8, 0.99], weightDecay: 0.1 }],
  ])('%s: five steps equal PyTorch\'s formulas; the decay mask spares the bias', (_, optimizer) => {
    const lr = 0.05;
    const step = trainStepGraph(regression(), { loss: 'loss', optimizer, schedule: { kind: 'constant', lr } });
    const { states, outputs } = train(step, init(), batches);
    const [W, b] = [Float64Array.from(init().get('W')!.data), Float64Array.from(init().get('b')!.data)];
    const sW = { m: new Float64Array(6), v: new Float64Array(6), buf: new Float64Array(6) };
    const sb = { m: new Float64Array(2), v: new Float64Array(2), buf: new Float64Array(2) };
    batches.forEach((batch, i) => {
      const { dW, db, loss } = handGradient(W, b, batch.x, batch.y);
      expect(outputs[i]!['loss']!.data[0]).toBeCloseTo(loss, 12);
      torchStep(optimizer, lr, i + 1, W, dW, sW, true);
      torchStep(optimizer, lr, i + 1, b, db, sb, false);
    });
    expect(Array.from(states.get('W')!.data)).toEqual(Array.from(W).map((v, i) => expect.closeTo(v, 12) as unknown as number));
    expect(Array.from(states.get('b')!.data)).toEqual(Array.from(b).map((v) => expect.closeTo(v, 12) as unknown as number));
    expect(Array.from(states.get(TRAIN_STATE.step)!.data)).toEqual([5]);
  });

  it.each<LrSchedule>([
    { kind: 'inverse-sqrt', dModel: 128, warmup: 3 },
    { kind: 'cosine', lr: 0.1, warmup: 2, total: 4, min: 0.01 },
  ])('the %o schedule gives the rate of its formula at every step', (schedule) => {
    const step = trainStepGraph(regression(), { loss: 'loss', optimizer: { kind: 'sgd' }, schedule });
    const { outputs } = train(step, init(), batches);
    outputs.forEach((o, i) => expect(o['lr']!.data[0]).toBeCloseTo(learningRateAt(schedule, i + 1), 12));
  });

  it('clipping scales the gradients to the global norm given, and reports the norm before clipping', () => {
    const options: TrainStepOptions = { loss: 'loss', optimizer: { kind: 'sgd' }, schedule: { kind: 'constant', lr: 1 }, clipNorm: 0.01 };
    const { states, outputs } = train(trainStepGraph(regression(), options), init(), batches.slice(0, 1));
    const { dW, db } = handGradient(Float64Array.from(init().get('W')!.data), Float64Array.from(init().get('b')!.data), batches[0]!.x, batches[0]!.y);
    const norm = Math.hypot(...dW, ...db);
    expect(outputs[0]!['grad_norm']!.data[0]).toBeCloseTo(norm, 12);
    const moved = Array.from(states.get('W')!.data).map((v, i) => init().get('W')!.data[i]! - v);
    const b0 = init().get('b')!.data;
    const movedB = Array.from(states.get('b')!.data).map((v, i) => b0[i]! - v);
    expect(Math.hypot(...moved, ...movedB)).toBeCloseTo(0.01 * (norm / (norm + 1e-6)), 9);
  });

  it('accumulating two micro-batches of 2 rows is one step on their 4 rows (the loss is a mean)', () => {
    const optimizer: OptimizerSpec = { kind: 'adamw' };
    const whole = train(trainStepGraph(regression(), { loss: 'loss', optimizer }), init(), batches.slice(0, 2));
    const halves = batches.slice(0, 2).flatMap((batch) => [0, 1].map((h) => ({ x: f64([2, 3], Array.from(batch.x.data.slice(h * 6, h * 6 + 6))), y: f64([2, 2], Array.from(batch.y.data.slice(h * 4, h * 4 + 4))) })));
    const step = trainStepGraph(regression(), { loss: 'loss', optimizer, accumulate: 2 });
    const micro = train(step, init(), halves);
    for (const name of ['W', 'b', TRAIN_STATE.of('W', 'm'), TRAIN_STATE.of('W', 'v')]) {
      Array.from(micro.states.get(name)!.data).forEach((v, i) => expect(v).toBeCloseTo(whole.states.get(name)!.data[i]!, 12));
    }
    expect(Array.from(micro.states.get(TRAIN_STATE.step)!.data)).toEqual([2]);
    expect(micro.outputs.map((o) => o['lr']!.data[0] !== 0)).toEqual([false, true, false, true]);
  });
});

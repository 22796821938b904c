import type { Backend, BackendName } from '@loom/backends';
import { cpuBackend, referenceBackend } from '@loom/backends';
import type { Graph, NDArray } from '@loom/graph';
import { grad, withCrossEntropyLoss } from '@loom/compiler';
import { describe, expect, it } from 'vitest';
import { requireBackend } from '../../backends/test/require-backend.ts';
import type { WeightMapping } from '../src/weights/mapping.ts';
import { toCheckpointNames } from '../src/weights/mapping.ts';
import { gpt2Family } from '../src/families/gpt2.ts';
import { llamaFamily } from '../src/families/llama.ts';
import { transformerFamily } from '../src/families/transformer.ts';
import { checkpointGradients, IGNORE_LABEL } from '../src/training/checkpoint-gradients.ts';
import { reverseLossGraph } from '../src/training/train-reverse.ts';
import { Trainer } from '../src/training/trainer.ts';
import { reverseSpecFromJson } from '../src/transformer/reverse-spec.ts';
import { fixtureJson, fixtureTensors, tensor } from './helpers.ts';

/**
 * PyTorch's training goldens (../shared/fixtures/README.md, copied to fixtures/): the loss, every
 * gradient and three AdamW steps of gpt2-tiny, llama-tiny-dev and the reversing Transformer, in
 * float64, against Loom's compiled backward and training step on every backend.
 */
interface Tolerance {
  /** Relative error of the loss. */
  readonly loss: number;
  /** Every gradient, relative to its tensor's largest |gradient|. */
  readonly gradient: number;
  /** The losses before the first and second AdamW steps, relative. */
  readonly adamwLoss: number;
  /** The loss before the third step, relative (see below). */
  readonly thirdLoss: number;
  /** Parameters after three steps (absolute), on elements whose first gradient exceeds `significant` of the tensor's largest. */
  readonly parameter: number;
  readonly significant: number;
}

/**
 * What PyTorch itself reaches in float32 on the same batches (the fixtures' README): loss 1e-6,
 * gradients 1.5e-5 of the largest, AdamW losses 3e-6, parameters 4e-5. The float64 reference
 * backend meets them to 1e-13, which shows the formulas are PyTorch's; the float32 backends meet
 * them for the loss and every gradient. Two things are stated apart, with what was measured:
 * - The loss before the third AdamW step. AdamW's first step moves every parameter by lr * sign(g),
 *   and the sign of a gradient that float32 cannot resolve from zero is a coin flip that differs
 *   between kernels; the reverse model's loss jumps from 1.58 to 7.6 after that step, so it is very
 *   sensitive to those flips (measured: cpu 4.8e-6, webgpu 1.1e-5 on reverse, 3.8e-6 on llama).
 *   Parameters are compared where the gradient is resolved (4e-5, the README's); on webgpu the
 *   reverse model's reach 7.0e-5, as the differences of the second step feed the third.
 * - WebGL: textures and arithmetic are float32 but GLSL ES 1.00 on headless-gl evaluates exp and
 *   log less accurately than Rust's or WGSL's libm (WEBGL.md, Precision): measured 1.15e-6 on the
 *   reverse loss, 4.3e-5 of the largest gradient, 4.9e-5 on the third AdamW loss, 1.1e-4 on
 *   parameters.
 */
const FIXTURE_TOLERANCE: Tolerance = { loss: 1e-6, gradient: 1.5e-5, adamwLoss: 3e-6, thirdLoss: 3e-6, parameter: 4e-5, significant: 1e-3 };
const TOLERANCE: Record<string, Tolerance> = {
  // float64: the golden's own rounding (parameters are stored as float32)
  reference: { loss: 1e-12, gradient: 1e-11, adamwLoss: 1e-12, thirdLoss: 1e-12, parameter: 1e-7, significant: 1e-3 },
  cpu: { ...FIXTURE_TOLERANCE, thirdLoss: 1e-5 },
  webgpu: { ...FIXTURE_TOLERANCE, thirdLoss: 2.5e-5, parameter: 1e-4 },
  webgl: { loss: 3e-6, gradient: 1e-4, adamwLoss: 1e-5, thirdLoss: 1e-4, parameter: 2.5e-4, significant: 1e-3 },
};

/** The goldens' AdamW: lr 1e-3, betas 0.9 / 0.999, eps 1e-8, weight decay 0.01 on every parameter. */
const GOLDEN_ADAMW = {
  optimizer: { kind: 'adamw', betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 },
  schedule: { kind: 'constant', lr: 1e-3 },
  decay: () => true,
} as const;

interface GoldenCase {
  readonly name: string;
  /** The graph with its `loss` output, the Loom-named weights, the checkpoint's mapping, the batch as the graph's inputs. */
  readonly lossGraph: Graph;
  readonly weights: Map<string, NDArray>;
  readonly checkpoint: ReadonlyMap<string, NDArray>;
  readonly mapping: WeightMapping;
  readonly feeds: Record<string, NDArray>;
  readonly golden: Map<string, NDArray>;
}

function causalCase(name: 'gpt2-tiny' | 'llama-tiny-dev'): GoldenCase & { readonly gradients: (backend: Backend) => ReturnType<typeof checkpointGradients> } {
  const family = (name === 'gpt2-tiny' ? gpt2Family : llamaFamily) as typeof gpt2Family;
  const cfg = family.parse(fixtureJson(`${name}.config.json`), `${name}.config.json`);
  const checkpoint = fixtureTensors(`${name}.safetensors`);
  const golden = fixtureTensors(`${name}-train-golden.safetensors`);
  const batch = { ids: tensor(golden, 'input_ids'), labels: tensor(golden, 'labels') };
  return {
    name,
    lossGraph: withCrossEntropyLoss(family.build(cfg), { labels: 'labels', ignoreIndex: IGNORE_LABEL, keep: [] }),
    weights: family.weights(cfg, checkpoint),
    checkpoint,
    mapping: family.mapping(cfg, new Set(checkpoint.keys())),
    feeds: { input_ids: batch.ids, labels: batch.labels },
    golden,
    gradients: (backend) => checkpointGradients(family, cfg, checkpoint, batch, backend),
  };
}

function reverseCase(): GoldenCase {
  const spec = reverseSpecFromJson(fixtureJson('reverse.json'));
  const checkpoint = fixtureTensors('reverse-transformer.safetensors');
  const golden = fixtureTensors('reverse-train-golden.safetensors');
  return {
    name: 'reverse',
    lossGraph: reverseLossGraph(spec),
    weights: transformerFamily.weights(spec.config as never, checkpoint),
    checkpoint,
    mapping: transformerFamily.mapping(spec.config as never, new Set(checkpoint.keys())),
    feeds: { src_ids: tensor(golden, 'src'), tgt_ids: tensor(golden, 'tgt_in'), tgt_out: tensor(golden, 'tgt_out') },
    golden,
  };
}

/** The worst gradient error relative to its tensor's largest |gradient|, and where. */
function worstGradient(ours: ReadonlyMap<string, NDArray>, golden: ReadonlyMap<string, NDArray>): { error: number; name: string; compared: number } {
  let worst = { error: 0, name: '', compared: 0 };
  for (const [name, want] of golden) {
    if (!name.startsWith('grad.')) continue;
    const got = ours.get(name.slice('grad.'.length));
    if (!got) throw new Error(`no gradient for ${name.slice('grad.'.length)} (ours: ${[...ours.keys()].slice(0, 5).join(', ')}, ...)`);
    expect(got.shape).toEqual(want.shape);
    let max = 0;
    let err = 0;
    for (let i = 0; i < want.data.length; i++) {
      max = Math.max(max, Math.abs(want.data[i]!));
      err = Math.max(err, Math.abs(want.data[i]! - got.data[i]!));
    }
    const error = max === 0 ? err : err / max;
    worst = { error: Math.max(worst.error, error), name: error >= worst.error ? name : worst.name, compared: worst.compared + 1 };
  }
  return worst;
}

async function lossAndGradients(c: GoldenCase, backend: Backend): Promise<{ loss: number; gradients: Map<string, NDArray> }> {
  const model = await backend.prepare(grad(c.lossGraph, { loss: 'loss' }), c.weights);
  try {
    const out = await model.run(c.feeds);
    const byLoomName = new Map(Object.entries(out).filter(([name]) => name.startsWith('grad.')).map(([name, v]) => [name.slice('grad.'.length), v] as const));
    return { loss: out['loss']!.data[0]!, gradients: toCheckpointNames(byLoomName, c.mapping) };
  } finally {
    model.dispose();
  }
}

async function threeAdamwSteps(c: GoldenCase, backend: Backend): Promise<{ losses: number[]; parameters: Map<string, NDArray> }> {
  const trainer = await Trainer.create(backend, c.lossGraph, c.weights, GOLDEN_ADAMW);
  try {
    const losses: number[] = [];
    for (let i = 0; i < 3; i++) losses.push((await trainer.step(c.feeds)).loss);
    return { losses, parameters: toCheckpointNames(await trainer.parameters(), c.mapping) };
  } finally {
    trainer.dispose();
  }
}

const relative = (got: number, want: number) => Math.abs(got - want) / Math.abs(want);

const backends: [BackendName, Backend | undefined][] = [
  ['cpu', cpuBackend],
  ['reference', referenceBackend],
  ['webgpu', (await requireBackend('webgpu')).backend],
  ['webgl', (await requireBackend('webgl')).backend],
];

const cases = [causalCase('gpt2-tiny'), causalCase('llama-tiny-dev'), reverseCase()];


describe.each(backends)('PyTorch training goldens on %s', (backendName, backend) => {
  describe.skipIf(!backend).each(cases)('$name', (c) => {
    it('loss and every gradient', async () => {
      const { loss, gradients } = await lossAndGradients(c, backend!);
      const worst = worstGradient(gradients, c.golden);
      const lossError = relative(loss, tensor(c.golden, 'loss_f64').data[0]!);
      console.log(`${c.name} on ${backendName}: loss rel err ${lossError.toExponential(2)}, ${worst.compared} gradients, worst ${worst.error.toExponential(2)} of max (${worst.name})`);
      expect(worst.compared).toBe([...c.golden.keys()].filter((n) => n.startsWith('grad.')).length);
      expect(lossError).toBeLessThan(TOLERANCE[backendName]!.loss);
      expect(worst.error).toBeLessThan(TOLERANCE[backendName]!.gradient);
    });

    it('three AdamW steps: the losses and every parameter', async () => {
      const { losses, parameters } = await threeAdamwSteps(c, backend!);
      const want = tensor(c.golden, 'adamw_losses_f64').data;
      const lossErrors = losses.map((l, i) => relative(l, want[i]!));
      let worst = 0;
      let worstName = '';
      let compared = 0;
      for (const [name, after] of c.golden) {
        if (!name.startsWith('adamw3.')) continue;
        const param = name.slice('adamw3.'.length);
        const got = parameters.get(param)!;
        const firstGrad = tensor(c.golden, `grad.${param}`).data;
        let max = 0;
        for (const g of firstGrad) max = Math.max(max, Math.abs(g));
        for (let i = 0; i < after.data.length; i++) {
          if (Math.abs(firstGrad[i]!) <= TOLERANCE[backendName]!.significant * max) continue;
          compared++;
          const err = Math.abs(after.data[i]! - got.data[i]!);
          if (err > worst) [worst, worstName] = [err, param];
        }
      }
      console.log(`${c.name} on ${backendName}: AdamW loss rel errs ${lossErrors.map((e) => e.toExponential(1)).join(' ')}, ${compared} parameters compared, worst ${worst.toExponential(2)} (${worstName})`);
      expect(compared).toBeGreaterThan(0);
      const tolerance = TOLERANCE[backendName]!;
      expect(lossErrors[0]).toBeLessThan(tolerance.adamwLoss);
      expect(lossErrors[1]).toBeLessThan(tolerance.adamwLoss);
      expect(lossErrors[2]).toBeLessThan(tolerance.thirdLoss);
      expect(worst).toBeLessThan(tolerance.parameter);
    });
  });
});

describe('checkpointGradients (what loom grad writes)', () => {
  it('names gradients as the Hugging Face checkpoint does and equals the golden on cpu', async () => {
    const c = causalCase('gpt2-tiny');
    const { loss, gradients } = await c.gradients(cpuBackend);
    expect([...gradients.keys()].sort()).toEqual([...c.golden.keys()].filter((n) => n.startsWith('grad.')).map((n) => n.slice(5)).sort());
    expect(relative(loss, tensor(c.golden, 'loss_f64').data[0]!)).toBeLessThan(FIXTURE_TOLERANCE.loss);
    expect(worstGradient(gradients, c.golden).error).toBeLessThan(FIXTURE_TOLERANCE.gradient);
  });
});

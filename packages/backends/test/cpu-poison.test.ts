import { GraphBuilder, interpret, LoomError, maxAbsDiff, type Graph, type NDArray, type Storage } from '@loom/graph';
import { compile, type Plan } from '@loom/compiler';
import { describe, expect, it } from 'vitest';
import { CpuGuardError, GUARD_ELEMENTS, PoisonGuard } from '../src/cpu/poison.ts';
import { cpuBackend, CpuProgram, type Backend, type CpuKernel } from '../src/index.ts';
// the model zoo lives in @loom/models, which depends on this package: import its sources directly
import { generate } from '../../models/src/decoding/generate.ts';
import { gpt2ConfigFromHf } from '../../models/src/gpt2/config.ts';
import { Gpt2Runner } from '../../models/src/runners/causal-lm-runner.ts';
import { gpt2Weights } from '../../models/src/weights/gpt2-weights.ts';
import { fixtureJson, fixtureTensors, tensor } from '../../models/test/helpers.ts';

const poisonedCpu: Backend = { name: 'cpu', prepare: (graph, weights, options) => cpuBackend.prepare(graph, weights, { ...options, cpu: { ...options?.cpu, poison: true } }) };

function f32(shape: number[], seed: number): NDArray {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'f32', shape, data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + seed) * 0.5) };
}

/**
 * x [rows, 8] -> matmul -> softmax -> exp -> matmul to [rows, 4] -> softmax -> matmul. Planned:
 *   k0 matmul -> b2, k1 softmax -> b3, k2 exp -> b2, k3 matmul -> b3 (4 of 8 per row: a tail),
 *   k4 softmax -> b2 (tail), k5 matmul -> b6 (output)
 */
function chain(): { graph: Graph; weights: Map<string, NDArray>; feeds: Record<string, NDArray> } {
  const b = new GraphBuilder();
  const x = b.input('x', 'f32', ['rows', 8]);
  const a = b.add('matmul', [x, b.param('w1', 'f32', [8, 8])]);
  const e = b.add('exp', [b.add('softmax', [a], { axis: -1 })]);
  const d = b.add('softmax', [b.add('matmul', [e, b.param('w2', 'f32', [8, 4])])], { axis: -1 });
  const graph = b.build({ y: b.add('matmul', [d, b.param('w3', 'f32', [4, 4])]) });
  const weights = new Map([['w1', f32([8, 8], 1)], ['w2', f32([8, 4], 2)], ['w3', f32([4, 4], 3)]]);
  return { graph, weights, feeds: { x: f32([3, 8], 4) } };
}

const stepOf = (plan: Plan, op: string, nth = 0) => plan.steps.map((s, i) => [s, i] as const).filter(([s]) => s.op === op)[nth]![1];

/** Replaces step `step`'s kernel by `fn` (after the real kernel has run). */
function patchKernel(program: CpuProgram, step: number, after: (ins: Storage[], out: Storage) => void): void {
  const kernels = program.kernels as CpuKernel[];
  const k = kernels[step]!;
  kernels[step] = { ...k, fn: (ins, out, inShapes, outShape, layouts) => (k.fn(ins, out, inShapes, outShape, layouts), after(ins, out)) };
}

/** The typed array over `a`'s memory, `extra` elements longer: what a kernel with an off-by-one bound writes through. */
const overrun = (a: Storage, extra: number) => new Float32Array(a.buffer, a.byteOffset, a.length + extra);

describe('cpu poison mode', () => {
  it('plans the poisoning: dead values after their last reader, never params, inputs or returned outputs', () => {
    const { graph } = chain();
    const plan = compile(graph, { inPlace: true });
    const guard = new PoisonGuard(plan);
    // b2 (matmul's value) dies at k1 (softmax read it), b3 at k2, ..., the output b6 never
    expect(guard.deadAfter).toEqual([[], [2], [3], [2], [3], [2]]);
    expect(plan.steps.map((s) => s.output)).toEqual([2, 3, 2, 3, 2, 6]);
  });

  it('catches a kernel that writes past the end of its output, naming the kernel and the buffer', async () => {
    const { graph, weights, feeds } = chain();
    const program = await CpuProgram.create(compile(graph, { inPlace: true }), weights, undefined, { poison: true });
    const k = stepOf(program.plan, 'softmax', 0);
    patchKernel(program, k, (_, out) => (overrun(out, 1)[out.length] = 0.5));
    let error: unknown;
    try {
      program.run(feeds);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CpuGuardError);
    expect(error).toBeInstanceOf(LoomError);
    expect((error as LoomError).code).toBe('cpu-guard');
    const node = program.kernels[k]!.node;
    expect((error as Error).message).toContain(`kernel %${node.id} softmax`);
    expect((error as Error).message).toContain('wrote past the end of its output: buffer 3 (intermediate f32[8*rows] = 24 elements), which holds 24 elements');
    expect((error as Error).message).toContain('element 24 = 0x3f000000');
  });

  it('catches a write into the unused tail of a larger reused buffer, and past the end of an input', async () => {
    const { graph, weights, feeds } = chain();
    // k3 writes [3, 4] into b3 of 3 * 8 elements: element 12 is past its value
    const tail = await CpuProgram.create(compile(graph, { inPlace: true }), weights, undefined, { poison: true });
    const k3 = stepOf(tail.plan, 'matmul', 1);
    patchKernel(tail, k3, (_, out) => (overrun(out, 1)[out.length] = 1));
    expect(() => tail.run(feeds)).toThrow(/kernel %6 matmul .*wrote past the end of its output: buffer 3 .*which holds 12 elements of the value; element 12 = 0x3f800000/);
    // the first softmax writes past the end of the buffer it reads (b2)
    const input = await CpuProgram.create(compile(graph, { inPlace: true }), weights, undefined, { poison: true });
    patchKernel(input, stepOf(input.plan, 'softmax', 0), (ins) => (overrun(ins[0]!, GUARD_ELEMENTS)[ins[0]!.length + GUARD_ELEMENTS - 1] = 1));
    expect(() => input.run(feeds)).toThrow(/kernel %3 softmax .*wrote past the end of its input: buffer 2 .*element 39 = 0x3f800000/);
  });

  it('a write past a buffer that the kernel neither reads nor writes is caught by the next user or at the end of the run', async () => {
    const { graph, weights, feeds } = chain();
    const program = await CpuProgram.create(compile(graph, { inPlace: true }), weights, undefined, { poison: true });
    const last = program.plan.steps.length - 1;
    // the last kernel (reads b2, writes b6) writes past the end of b3 (3 * 8 elements; k4 saw its first 3 * 4)
    let b3: Storage | undefined;
    patchKernel(program, last - 1, (ins) => (b3 = ins[0])); // k4 softmax reads b3
    patchKernel(program, last, () => (overrun(b3!, 13)[24] = 2));
    expect(() => program.run(feeds)).toThrow(/at the end of the run: some kernel wrote past a buffer it did not read or write \(the last kernel was %9 matmul.*buffer 3 .*element 24 = 0x40000000/);

    // k0 (writes b2) writes past b3, whose writer k1 runs next: the check before k1 catches it, not blaming k1
    const next = await CpuProgram.create(compile(graph, { inPlace: true }), weights, undefined, { poison: true });
    let kept: Storage | undefined;
    patchKernel(next, 1, (_, out) => (kept ??= out)); // the pool keeps b3's memory from run to run
    patchKernel(next, 0, () => kept && (overrun(kept, 1)[kept.length] = 3));
    next.run(feeds);
    expect(() => next.run(feeds)).toThrow(/before kernel %3 softmax at .*cpu-poison.test.ts:\d+ \(step 1\) ran, an earlier kernel wrote past a buffer it did not read or write: buffer 3 .*element 24 = 0x40400000/);
  });

  it('poison mode costs nothing when off and is on with LOOM_CPU_POISON=1', async () => {
    const { graph, weights, feeds } = chain();
    const off = await CpuProgram.create(compile(graph, { inPlace: true }), weights);
    expect((off as unknown as { guard: unknown }).guard).toBeUndefined();
    const before = process.env['LOOM_CPU_POISON'];
    process.env['LOOM_CPU_POISON'] = '1';
    try {
      const on = await CpuProgram.create(compile(graph, { inPlace: true }), weights);
      expect((on as unknown as { guard: unknown }).guard).toBeInstanceOf(PoisonGuard);
      expect((await CpuProgram.create(compile(graph), weights, undefined, { poison: false }) as unknown as { guard: unknown }).guard).toBeUndefined();
      expect(maxAbsDiff(on.run(feeds)['y']!.data, off.run(feeds)['y']!.data)).toBe(0);
    } finally {
      if (before === undefined) delete process.env['LOOM_CPU_POISON'];
      else process.env['LOOM_CPU_POISON'] = before;
    }
  });

  it('a plan whose kernel writes over a value it still reads passes in normal mode; poison mode turns it into NaN', async () => {
    const { graph, weights, feeds } = chain();
    const plan = compile(graph, { inPlace: true });
    // the planted mistake: the second softmax (k4: b3 -> b2) writes into b3, the buffer it reads,
    // as if b3 had been released one step early; the step is not marked in place
    const k4 = stepOf(plan, 'softmax', 1);
    const node = plan.steps[k4]!.node;
    const from = plan.steps[k4]!.inputs[0]!;
    const nodeBuffer = plan.nodeBuffer.map((b, id) => (id === node ? from : b));
    const steps = plan.steps.map((s, i) => (i === k4 ? { ...s, output: from } : { ...s, inputs: plan.graph.nodes[s.node]!.inputs.map((n) => nodeBuffer[n]!) }));
    const aliased: Plan = { ...plan, nodeBuffer, steps };
    expect(steps[k4]).toMatchObject({ inputs: [3], output: 3, inPlace: false });

    const want = interpret(graph, feeds, weights)['y']!;
    const normal = (await CpuProgram.create(aliased, weights)).run(feeds)['y']!;
    expect(maxAbsDiff(normal.data, want.data)).toBeLessThan(1e-6); // the CPU softmax survives the aliasing
    const poisoned = (await CpuProgram.create(aliased, weights, undefined, { poison: true })).run(feeds)['y']!;
    expect(Array.from(poisoned.data).every(Number.isNaN)).toBe(true);
    // the plan as compiled is fine in poison mode
    const fine = (await CpuProgram.create(plan, weights, undefined, { poison: true })).run(feeds)['y']!;
    expect(maxAbsDiff(fine.data, want.data)).toBeLessThan(1e-6);
  });

  describe('gpt2-tiny: poison mode gives exactly the results of normal mode', () => {
    const cfg = gpt2ConfigFromHf(fixtureJson('gpt2-tiny.config.json'));
    const expected = fixtureJson<{ prompt_ids: number[]; greedy_20: number[] }>('gpt2-tiny.json');
    const weights = gpt2Weights(cfg, fixtureTensors('gpt2-tiny.safetensors'));
    const golden = fixtureTensors('gpt2-tiny-golden.safetensors');

    it('logits of a prompt and of a padded batch (runs at shrinking sizes reuse the pool)', async () => {
      const normal = new Gpt2Runner(cfg, weights, cpuBackend);
      const poisoned = new Gpt2Runner(cfg, weights, poisonedCpu);
      const rows = [expected.prompt_ids, expected.prompt_ids.slice(0, 3)];
      for (const batch of [[expected.prompt_ids], rows, [expected.prompt_ids.slice(0, 2)]]) {
        const want = await normal.logits(batch);
        const got = await poisoned.logits(batch);
        expect(got.shape).toEqual(want.shape);
        expect(maxAbsDiff(got.data, want.data)).toBe(0);
      }
      expect(maxAbsDiff((await poisoned.logits([expected.prompt_ids])).data, tensor(golden, 'logits_f64').data)).toBeLessThan(2e-5);
      await Promise.all([normal.dispose(), poisoned.dispose()]);
    });

    it('greedy decoding with the KV cache (states) gives the PyTorch greedy_20', async () => {
      const poisoned = new Gpt2Runner(cfg, weights, poisonedCpu);
      const [cached] = await generate(poisoned, [expected.prompt_ids], { maxNewTokens: 20, kvCache: true });
      expect(cached).toEqual(expected.greedy_20);
      const normal = new Gpt2Runner(cfg, weights, cpuBackend);
      const prompts = [expected.prompt_ids, expected.prompt_ids.slice(0, 2)];
      const opts = { maxNewTokens: 5, kvCache: true, stopAt: null };
      expect(await generate(poisoned, prompts, opts)).toEqual(await generate(normal, prompts, opts));
      await Promise.all([normal.dispose(), poisoned.dispose()]);
    });
  });
});

/**
 * The runtime around the kernels of a GPU backend (webgpu, webgl), written once: memory stays flat
 * over many runs and over a KV-cache decode loop, changing sizes stay right, runs are serialized,
 * dispose frees everything, the budget is checked before allocating, and failures (a lost device,
 * an op without a kernel) are typed errors. What each backend holds is read through a probe.
 */
import type { Plan } from '@loom/compiler';
import { planMemory } from '@loom/compiler';
import { GraphBuilder, interpret, ModelBuilder, type Graph, type NDArray, type Weights } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { verify, type PreparedModel } from '../../src/index.ts';
import type { DeviceBackend, DeviceRuntime } from '../../src/gpu/device-backend.ts';
import { randomF32, rng } from '../webgpu-data.ts';
import { runsOn } from './exclusions.ts';
import { expectClose, smallModel, smallModelIds as ids } from './small-model.ts';

type ErrorClass = abstract new (...args: never[]) => Error;

/** How the suite sees one backend. */
export interface DeviceProbe<R extends DeviceRuntime, M extends PreparedModel> {
  readonly name: 'webgpu' | 'webgl';
  /** The shared backend, or undefined when this machine has none (requireBackend printed why). */
  readonly backend: DeviceBackend<R, M> | undefined;
  /** A backend with a device of its own (to lose it without touching the shared one). */
  fresh(): DeviceBackend<R, M>;
  /** What the device holds now, for `model` and in all: equal readings mean nothing leaked. */
  held(runtime: R, model: M): Record<string, unknown>;
  /** What the device holds in all (after every model is disposed). */
  live(runtime: R): number;
  /** Loses the device as a driver reset would. */
  lose(runtime: R): void;
  /** A model from a plan as given (no compile), to reach ops the backend has no kernel for. */
  fromPlan(runtime: R, plan: Plan, weights: Weights): Promise<M>;
  readonly errors: { readonly disposed: ErrorClass; readonly lost: ErrorClass; readonly unsupported: ErrorClass };
}

export function deviceRuntimeSuite<R extends DeviceRuntime, M extends PreparedModel>(probe: DeviceProbe<R, M>): void {
  if (!runsOn('device runtime', probe.name)) return;
  const backend = probe.backend;
  describe.skipIf(!backend)(`${probe.name} runtime`, { timeout: 120_000 }, () => {
    it('200 consecutive runs leave the device memory flat', async () => {
      const { graph, weights } = smallModel();
      const model = await backend!.prepare(graph, weights);
      const runtime = await backend!.runtime();
      const feeds = { ids: ids(2, 7, 1) };
      const first = await model.run(feeds);
      const after1 = probe.held(runtime, model);
      for (let i = 0; i < 199; i++) await model.run(feeds);
      const last = await model.run(feeds);
      expect(probe.held(runtime, model)).toEqual(after1);
      expect(Array.from(last['probs']!.data)).toEqual(Array.from(first['probs']!.data));
      console.log(`${probe.name}: 200 runs, ${JSON.stringify(after1)} throughout`);
      model.dispose();
    });

    it('changing sequence lengths stay right, and a second pass over them holds no more', async () => {
      const { graph, weights } = smallModel();
      const model = await backend!.prepare(graph, weights);
      const runtime = await backend!.runtime();
      const lengths = [3, 50, 1, 17, 50, 3];
      for (const seq of lengths) expectClose(await model.run({ ids: ids(2, seq, seq) }), interpret(graph, { ids: ids(2, seq, seq) }, weights));
      const settled = probe.held(runtime, model);
      for (const seq of lengths) await model.run({ ids: ids(2, seq, seq) });
      expect(probe.held(runtime, model)).toEqual(settled);
      model.dispose();
    });

    it('a KV-cache decode loop (states on the device) keeps the memory flat; readState downloads the cache', async () => {
      const b = new GraphBuilder();
      const cache = b.input('cache', 'f32', [1, 8, 4]);
      const updated = b.add('cache_update', [cache, b.input('x', 'f32', [1, 1, 4]), b.input('position', 'i32', [1])], { axis: 1 });
      const model = await backend!.prepare(b.build({ cache: updated, total: b.add('reduce_sum', [updated], { axes: [1] }) }), new Map());
      const runtime = await backend!.runtime();
      const step = async (p: number) => (await model.run({ x: { dtype: 'f32', shape: [1, 1, 4], data: Float32Array.of(p, p, p, p) }, position: { dtype: 'i32', shape: [1], data: Int32Array.of(p) } }))['total']!;
      await step(0);
      const held = probe.held(runtime, model);
      for (let p = 1; p < 8; p++) expect(Array.from((await step(p)).data)).toEqual(new Array(4).fill((p * (p + 1)) / 2));
      expect(probe.held(runtime, model)).toEqual(held);
      expect(Array.from((await model.readState!('cache')).data.slice(28))).toEqual([7, 7, 7, 7]);
      model.state.clear(); // the next run starts the cache from zeros again
      expect(Array.from((await step(0)).data)).toEqual([0, 0, 0, 0]);
      model.dispose();
    });

    it('concurrent runs are serialized and each gets its own answer', async () => {
      const { graph, weights } = smallModel();
      const model = await backend!.prepare(graph, weights);
      const feeds = [1, 2, 3, 4, 5].map((s) => ({ ids: ids(1, s + 2, s) }));
      const results = await Promise.all(feeds.map((f) => model.run(f)));
      results.forEach((got, i) => expectClose(got, interpret(graph, feeds[i]!, weights)));
      model.dispose();
    });

    it('dispose frees everything the model held; running afterwards is a disposed error', async () => {
      const runtime = await backend!.runtime();
      const before = probe.live(runtime);
      const { graph, weights } = smallModel();
      const model = await backend!.prepare(graph, weights);
      await model.run({ ids: ids(2, 5, 1) });
      expect(probe.live(runtime)).toBeGreaterThan(before);
      model.dispose();
      expect(probe.live(runtime)).toBe(before);
      await expect(model.run({ ids: ids(2, 5, 1) })).rejects.toThrow(probe.errors.disposed);
      await expect(model.run({ ids: ids(2, 5, 1) })).rejects.toThrow(new RegExp(`^${probe.name}: the model was disposed`));
      model.dispose(); // twice is harmless
    });

    it('a lost device is a typed error naming it; the backend acquires a new device for the next prepare', async () => {
      const own = probe.fresh();
      const { graph, weights } = smallModel();
      const model = await own.prepare(graph, weights);
      const feeds = { ids: ids(1, 4, 2) };
      const before = await model.run(feeds);
      probe.lose(await own.runtime());
      await expect(model.run(feeds)).rejects.toThrow(probe.errors.lost);
      await expect(model.run(feeds)).rejects.toThrow(/prepare the model again/);
      model.dispose();
      const again = await own.prepare(graph, weights);
      expectClose(await again.run(feeds), before);
      again.dispose();
    });

    it('a model or run over the memory budget is a MemoryBudgetError with the numbers, before any allocation', async () => {
      const b = new GraphBuilder();
      const x = b.input('x', 'f32', ['n']);
      const graph = b.build({ y: b.add('add', [b.add('neg', [x]), b.param('w', 'f32', [1])]) });
      const w = new Map([['w', randomF32([1], rng(2))]]);
      await expect(backend!.prepare(graph, w, { maxMemory: 2 })).rejects.toThrow(new RegExp(`${probe.name}: the model needs 0\\.0 MiB \\(weights 0\\.0 MiB, constants 0\\.0 MiB\\), above the memory budget of 0\\.0 MiB`));
      const model = await backend!.prepare(graph, w, { maxMemory: 2 ** 20 });
      await model.run({ x: randomF32([100], rng(1)) });
      await expect(model.run({ x: randomF32([400_000], rng(1)) })).rejects.toThrow(new RegExp(`${probe.name}: this run needs .* at n=400000\\), above the memory budget of 1\\.0 MiB`));
      model.dispose();
    });

    it('an op without a kernel is an error naming the op and the node (no fallback)', async () => {
      const b = new GraphBuilder();
      const tokens = b.input('ids', 'i32', [2]);
      const graph = b.build({ y: b.add('embed', [tokens, b.param('table', 'f32', [5, 3])]) });
      // a plan that skipped compile()'s expansion of composites
      const plan = planMemory(graph, graph.nodes.map((n) => n.id));
      const error = await probe.fromPlan(await backend!.runtime(), plan, new Map([['table', randomF32([5, 3], rng(1))]])).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(probe.errors.unsupported);
      expect((error as { op: string }).op).toBe('embed');
      expect((error as Error).message).toMatch(/no kernel for op 'embed': node %2 .*composite ops must be expanded by compile\(\) first/);
    });

    it('verify(): random symbolic sizes and ids through attention agree with the reference (property)', async () => {
      const m = new ModelBuilder();
      const tokens = m.input('ids', 'i32', ['batch', 'seq'] as const);
      const x = m.embed(tokens, m.param('emb', [11, 8] as const));
      const y = m.attention(x, x, x, 2, m.causalMask(tokens));
      const report = await verify(m.build({ y: m.softmax(m.add(x, y)) }), { backends: [backend!], runs: 6, seed: 3, atol: 1e-5, rtol: 1e-4 });
      expect(report.ok, JSON.stringify(report.counterexample)).toBe(true);
      expect(report.agreements[0]!.maxAbsError).toBeLessThan(1e-5);
    });
  });
}

export type { Graph, NDArray };

/**
 * The model as the page holds it: the graph and weights from the server, the backend chosen in the
 * page, and what each view needs from the compiler (the plan the backend prepares, the graph after
 * each pass) and from a run (outputs with the intermediates asked for). Runs happen in the page's
 * Worker (page/worker.ts, through @loom/backends' WorkerRuntime), the cpu's threads as Workers
 * nested in it (every core: the server sends the cross-origin isolation headers), so the page stays
 * responsive while a model computes.
 */
import { backendCompileOptions } from '@loom/backends';
import { WorkerRuntime, type RemoteModel, type RemoteWeights } from '@loom/backends/worker';
import { compileWithReport, withIntermediates, type Intermediate, type IntermediateSpec, type Plan } from '@loom/compiler';
import { graphFromJson, readSafetensors, type Graph } from '@loom/graph';
import type { InspectInfo } from '../inspect-server.ts';
import { embeddingNodes } from './walkthrough-spec.ts';

export type PageBackend = 'cpu' | 'webgpu' | 'webgl';

export interface Snapshot {
  readonly name: string;
  readonly graph: Graph;
}

export class Session {
  backend: PageBackend = 'cpu';
  /** The cpu's threads: every core of a cross-origin isolated page, else one. */
  readonly threads = globalThis.crossOriginIsolated ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;
  private readonly prepared = new Map<string, Promise<RemoteModel>>();
  private described: Intermediate[] | undefined;

  private constructor(
    readonly info: InspectInfo,
    readonly graph: Graph,
    private readonly runtime: WorkerRuntime,
    private readonly weights: RemoteWeights,
  ) {}

  static async load(): Promise<Session> {
    const info = (await (await fetch('/api/model')).json()) as InspectInfo;
    const bytes = new Uint8Array(await (await fetch('/api/weights')).arrayBuffer());
    const runtime = new WorkerRuntime(new Worker('./inspect-worker.js', { type: 'module', name: 'loom-inspect' }));
    // the weights live in the Worker from here on (moved, not copied)
    const weights = await runtime.uploadWeights(readSafetensors(bytes).tensors, true);
    return new Session(info, graphFromJson(info.graph), runtime, weights);
  }

  /** The graph after each pass of the chosen backend's pipeline ('source' first), and the plan. */
  compileTrace(bindings: Record<string, number>): { snapshots: Snapshot[]; plan: Plan } {
    const snapshots: Snapshot[] = [{ name: 'source', graph: this.graph }];
    const { plan } = compileWithReport(this.graph, { ...backendCompileOptions(this.backend), bindings, onPass: (pass, graph) => snapshots.push({ name: pass.name, graph }) });
    return { snapshots, plan };
  }

  /** The intermediates the model view asks for: every attention's weights and the embedding lookups. */
  intermediateSpec(): IntermediateSpec {
    return { attentionWeights: true, nodes: embeddingNodes(this.graph) };
  }

  /** What each added output is (derived once: the graph does not change, and every run and decoding step reads it). */
  intermediates(): Intermediate[] {
    this.described ??= withIntermediates(this.graph, this.intermediateSpec()).intermediates;
    return this.described;
  }

  /** The model prepared on the chosen backend (with the model view's intermediates as outputs when asked), once per backend. */
  model(withIntermediatesToo: boolean, profile = false): Promise<RemoteModel> {
    return this.prepare(withIntermediatesToo ? this.intermediateSpec() : undefined, profile);
  }

  /** The model prepared in the Worker on the chosen backend with `intermediates` as outputs, once per backend, spec and profiling. */
  prepare(intermediates: IntermediateSpec | undefined, profile = false): Promise<RemoteModel> {
    const key = `${this.backend}/${JSON.stringify(intermediates ?? null)}/${profile}`;
    let model = this.prepared.get(key);
    if (!model) {
      model = this.runtime.prepare(this.backend, this.graph, this.weights, {
        ...(intermediates ? { intermediates } : {}),
        ...(this.backend === 'cpu' ? { cpu: { threads: this.threads, profile } } : {}),
      });
      model.catch(() => this.prepared.delete(key));
      this.prepared.set(key, model);
    }
    return model;
  }
}

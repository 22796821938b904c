/**
 * The model as the page holds it: the graph and weights from the server, the backend chosen in the
 * page, and what each view needs from the compiler (the plan the backend prepares, the graph after
 * each pass) and from a run (outputs with the intermediates asked for).
 */
import { backendCompileOptions, cpuBackend, webglBackend, webgpuBackend, type Backend, type PreparedModel } from '@loom/backends';
import { compileWithReport, withIntermediates, type Intermediate, type IntermediateSpec, type Plan } from '@loom/compiler';
import { graphFromJson, readSafetensors, type Graph, type NDArray } from '@loom/graph';
import type { InspectInfo } from '../inspect-server.ts';
import { embeddingNodes } from './walkthrough-spec.ts';

export type PageBackend = 'cpu' | 'webgpu' | 'webgl';

export const BACKENDS: Record<PageBackend, Backend> = { cpu: cpuBackend, webgpu: webgpuBackend, webgl: webglBackend };


export interface Snapshot {
  readonly name: string;
  readonly graph: Graph;
}

export class Session {
  backend: PageBackend = 'cpu';
  private prepared = new Map<string, Promise<PreparedModel>>();
  private described: Intermediate[] | undefined;

  private constructor(
    readonly info: InspectInfo,
    readonly graph: Graph,
    readonly weights: Map<string, NDArray>,
  ) {}

  static async load(): Promise<Session> {
    const info = (await (await fetch('/api/model')).json()) as InspectInfo;
    const bytes = new Uint8Array(await (await fetch('/api/weights')).arrayBuffer());
    return new Session(info, graphFromJson(info.graph), readSafetensors(bytes).tensors);
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

  /** The model prepared on the chosen backend (with the intermediates as outputs when asked), once per backend. */
  model(withIntermediatesToo: boolean, profile = false): Promise<PreparedModel> {
    const key = `${this.backend}/${withIntermediatesToo}/${profile}`;
    let model = this.prepared.get(key);
    if (!model) {
      model = BACKENDS[this.backend].prepare(this.graph, this.weights, {
        ...(withIntermediatesToo ? { intermediates: this.intermediateSpec() } : {}),
        ...(this.backend === 'cpu' ? { cpu: { threads: 1, profile } } : {}),
      });
      model.catch(() => this.prepared.delete(key));
      this.prepared.set(key, model);
    }
    return model;
  }
}

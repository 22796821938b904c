/**
 * The browser page's script (bundled by build-page.ts): runs Loom graphs on `navigator.gpu` with the
 * same WebGPU backend as Node. The page exposes `window.loom` for the test driving it.
 */
import { graphFromJson, graphToJson, ModelBuilder, type Graph, type NDArray } from '@loom/graph';
import { webgpuBackend } from '../src/webgpu/index.ts';

/** Tensors as plain JSON (what crosses page.evaluate). */
export interface JsonTensor {
  readonly dtype: 'f32' | 'i32';
  readonly shape: number[];
  readonly data: number[];
}

function toNd(t: JsonTensor): NDArray {
  return { dtype: t.dtype, shape: t.shape, data: t.dtype === 'i32' ? Int32Array.from(t.data) : Float32Array.from(t.data) };
}

function toJson(a: NDArray): JsonTensor {
  return { dtype: a.dtype, shape: [...a.shape], data: Array.from(a.data) };
}

/** A small graph built in the page itself: token embedding, causal self-attention, FFN, layer norm. */
function smallTransformerBlock(): Graph {
  const m = new ModelBuilder();
  const ids = m.input('ids', 'i32', ['batch', 'seq'] as const);
  const x = m.embed(ids, m.param('emb', [20, 16] as const));
  const attn = m.attention(x, x, x, 2, m.causalMask(ids));
  const h = m.addNorm(x, attn, m.param('ln.g', [16] as const), m.param('ln.b', [16] as const));
  const y = m.ffn(h, m.param('w1', [16, 32] as const), m.param('b1', [32] as const), m.param('w2', [32, 16] as const), m.param('b2', [16] as const), 'gelu');
  return m.build({ y });
}

async function run(graphJson: string, feeds: Record<string, JsonTensor>, weights: Record<string, JsonTensor>): Promise<Record<string, JsonTensor>> {
  const graph = graphFromJson(graphJson);
  const model = await webgpuBackend.prepare(graph, new Map(Object.entries(weights).map(([k, v]) => [k, toNd(v)])));
  try {
    const out = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toNd(v)])));
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, toJson(v)]));
  } finally {
    model.dispose();
  }
}

async function adapter(): Promise<string> {
  return (await webgpuBackend.runtime()).description;
}

const api = {
  run,
  adapter,
  /** The page's own graph, as JSON, so the test can compute the reference and weights in Node. */
  smallTransformerBlock: (): string => graphToJson(smallTransformerBlock()),
  hasGpu: (): boolean => 'gpu' in navigator,
};

declare global {
  interface Window {
    loom: typeof api;
  }
}
window.loom = api;

/** The inspector's layer folding (graph-blocks.ts): which numbered layer each node of a model is drawn in. */
import { expandOps, type Graph, type GraphNode } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { gpt2ConfigFromHf } from '../src/gpt2/config.ts';
import { buildGpt2 } from '../src/gpt2/model.ts';
import { layerBlocks, layerOfParam } from '../src/inspect/page/graph-blocks.ts';
import { fixtureJson } from './helpers.ts';

const gpt2 = buildGpt2(gpt2ConfigFromHf(fixtureJson('gpt2-tiny.config.json')));
const paramNames = (g: Graph, n: GraphNode) => n.inputs.map((i) => g.nodes[i]!).filter((p) => p.op === 'param').map((p) => String(p.attrs['name']));

describe('graph-blocks: numbered layers', () => {
  it('names a layer by the parameter names under it', () => {
    expect(layerOfParam('h.0.attn.c_attn.weight')).toBe('h.0');
    expect(layerOfParam('encoder.layers.1.self_attn.in_proj_weight')).toBe('encoder.layers.1');
    expect(layerOfParam('model.layers.3.mlp.up_proj.weight')).toBe('model.layers.3');
    expect(layerOfParam('wte.weight')).toBeUndefined();
    expect(layerOfParam('ln_f.bias')).toBeUndefined();
  });

  it('GPT-2: every node reading a layer\'s parameters is in it; embeddings, the final norm and the masks in none', () => {
    const layers = layerBlocks(gpt2);
    expect([...new Set(layers.filter((l) => l !== undefined))]).toEqual(['h.0', 'h.1']);
    for (const n of gpt2.nodes) {
      const names = paramNames(gpt2, n);
      if (names.length === 0) continue;
      expect(layers[n.id], `%${n.id} ${n.op} (${names.join(', ')})`).toBe(layerOfParam(names[0]!));
    }
    for (const n of gpt2.nodes.filter((x) => x.op === 'embed' || x.op.endsWith('_mask') || x.op === 'learned_posenc')) expect(layers[n.id], `%${n.id} ${n.op}`).toBeUndefined();
  });

  it('decomposed, each layer norm\'s statistics are drawn in the layer of its weights, not the layer before', () => {
    // every op that has a decomposition opened, the norms included
    const expanded = expandOps(gpt2, () => true);
    const layers = layerBlocks(expanded);
    let checked = 0;
    for (const n of expanded.nodes) {
      const norm = paramNames(expanded, n).find((name) => /\.ln_[12]\.weight$/.test(name));
      if (!norm) continue;
      // back from the gain's product to the statistics it scales
      const seen = new Set<number>();
      const walk = (id: number, depth: number): void => {
        if (depth > 8 || seen.has(id)) return;
        seen.add(id);
        const x = expanded.nodes[id]!;
        if (x.op === 'reduce_mean') {
          expect(layers[id], `reduce_mean %${id} of ${norm}`).toBe(layerOfParam(norm));
          checked++;
          return;
        }
        if (paramNames(expanded, x).some((p) => !p.startsWith(layerOfParam(norm)!))) return;
        for (const i of x.inputs) walk(i, depth + 1);
      };
      walk(n.id, 0);
    }
    expect(checked).toBeGreaterThanOrEqual(4);
  });
});

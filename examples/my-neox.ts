/**
 * Your own model, decoded with a KV cache: GPT-NeoX (Pythia) written with the builder under the
 * KV-cache convention (decodeStepInputs: input_ids, position, last_index, caches as states; logits
 * [batch, 1, V]), a Hugging Face checkpoint mapped onto its weights (applyMapping: q, k and v are
 * interleaved per head in query_key_value), and causalLmFromGraph for generate, sampling and beams.
 * `npx tsx examples/my-neox.ts` runs it on random weights; examples/my-neox.test.ts checks it
 * against a float64 forward written from Hugging Face's modeling_gpt_neox.
 */
import { cpuBackend, randomWeights } from '@loom/backends';
import { ModelBuilder, type Dim, type Graph, type NDArray, type Tensor } from '@loom/graph';
import { applyMapping, causalLmFromGraph, decodeStepInputs, expectedWeights, generate, pickPosition, type WeightMapping } from '@loom/models';

export interface NeoxSizes {
  readonly vocab: number;
  readonly d: number;
  readonly heads: number;
  readonly layers: number;
  readonly ff: number;
  readonly rotaryPct: number;
  readonly positions: number;
}

type Hidden = Tensor<'f32', readonly ['batch', Dim, number]>;
type Rows = Tensor<'f32', readonly ['batch', Dim, Dim]>;

/** The KV-cache graph for `seq` new tokens per row: pre-LayerNorm blocks, partial rotary, a parallel residual. */
export function neoxGraph(s: NeoxSizes, seq: 'seq' | 1 = 'seq'): Graph {
  const m = new ModelBuilder();
  const step = decodeStepInputs(m, seq, s.positions); // the convention's inputs, the cache mask and the caches
  const dh = s.d / s.heads;
  const ln = (name: string, x: Hidden): Hidden => m.layerNorm(x, m.param(`${name}.weight`, [s.d]), m.param(`${name}.bias`, [s.d]), 1e-5);
  const lin = (name: string, x: Rows, from: number, to: number): Hidden => m.linear(x, m.param(`${name}.weight`, [from, to]), m.param(`${name}.bias`, [to]));
  let h: Hidden = m.embed(step.ids, m.param('embed', [s.vocab, s.d]));
  for (let i = 0; i < s.layers; i++) {
    const n = ln(`layers.${i}.ln1`, h);
    const rope = (t: Hidden): Hidden => m.reshape(m.rope(m.reshape(t, ['batch', -1, s.heads, dh]), { fraction: s.rotaryPct, offset: step.position }), ['batch', -1, s.d]);
    const fresh = { k: rope(lin(`layers.${i}.k`, n, s.d, s.d)), v: lin(`layers.${i}.v`, n, s.d, s.d) };
    const { k, v } = step.cache(i, fresh); // written into cache.{k,v}.i, read whole
    // ALiBi (BLOOM) would be { alibi: slopes }; a sliding window { window: W } with windowKeysValues' ring
    const attended = m.attention(rope(lin(`layers.${i}.q`, n, s.d, s.d)), k, v, s.heads, { mask: step.mask });
    const mlp = lin(`layers.${i}.fc2`, m.unary('gelu', lin(`layers.${i}.fc1`, ln(`layers.${i}.ln2`, h), s.d, s.ff)), s.ff, s.d);
    h = m.add(m.add(h, lin(`layers.${i}.o`, attended, s.d, s.d)), mlp); // the parallel residual
  }
  const last = pickPosition(m, ln('final', h), step.lastIndex); // (B, 1, D)
  return m.build({ logits: m.matmul(last, m.param('unembed', [s.vocab, s.d]), { transposeB: true }) });
}

/** Where a Hugging Face GPT-NeoX checkpoint keeps each weight of the graph above. */
export function neoxMapping(s: NeoxSizes): WeightMapping {
  const layer = (name: string) => /^layers\.(\d+)\.(.+)$/.exec(name);
  const RENAMES: Readonly<Record<string, string>> = { ln1: 'input_layernorm', ln2: 'post_attention_layernorm', o: 'attention.dense', fc1: 'mlp.dense_h_to_4h', fc2: 'mlp.dense_4h_to_h' };
  return {
    describe: 'Hugging Face GPT-NeoX',
    sourceOf(name) {
      if (name === 'embed') return { name: 'gpt_neox.embed_in.weight' };
      if (name === 'unembed') return { name: 'embed_out.weight' };
      if (name.startsWith('final.')) return { name: `gpt_neox.final_layer_norm.${name.slice(6)}` };
      const [, i, rest] = layer(name) ?? [];
      const [part, kind] = rest?.split('.') ?? [];
      if (!part || !kind) return undefined;
      const transpose = kind === 'weight' && part !== 'ln1' && part !== 'ln2'; // nn.Linear stores [out, in]
      // q, k and v: rows [heads, 3, Dh] of query_key_value, part 0, 1 or 2 of each head's three
      if (part === 'q' || part === 'k' || part === 'v') return { name: `gpt_neox.layers.${i}.attention.query_key_value.${kind}`, transpose, part: { index: 'qkv'.indexOf(part), count: 3, groups: s.heads } };
      return RENAMES[part] ? { name: `gpt_neox.layers.${i}.${RENAMES[part]}.${kind}`, transpose } : undefined;
    },
    ignore: (name) => /\.(attention\.(bias|masked_bias)|rotary_emb\.inv_freq)$/.test(name),
  };
}

/** The graph's weights from a checkpoint with Hugging Face's names (every problem in one WeightsError). */
export function neoxWeights(s: NeoxSizes, checkpoint: ReadonlyMap<string, NDArray>): Map<string, NDArray> {
  return applyMapping(checkpoint, expectedWeights(neoxGraph(s)), neoxMapping(s));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes: NeoxSizes = { vocab: 64, d: 64, heads: 4, layers: 2, ff: 256, rotaryPct: 0.25, positions: 64 };
  const graph = neoxGraph(sizes);
  const lm = causalLmFromGraph(graph, randomWeights(graph, 3), { backend: cpuBackend });
  const [out] = await generate(lm, [[1, 2, 3]], { maxNewTokens: 8, kvCache: true, stopAt: null });
  console.log(`generated with the KV cache: ${out!.slice(3).join(',')}`);
}

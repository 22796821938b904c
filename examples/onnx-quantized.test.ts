/**
 * ONNX export of quantized graphs (quantizeWeights' q8 / q4 stores): the exported model runs in
 * onnxruntime-node and agrees with Loom's reference interpreter on the same quantized graph. Groups
 * MatMulNBits takes (powers of two >= 16) must become com.microsoft::MatMulNBits (the test fails if
 * the export fell back silently); other groups, and a standalone dequantize, standard ops that
 * dequantize the packed codes at run time. Either way no float copy of a quantized weight is written.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportOnnx, onnxDataIsExternal, onnxWeightBytes, OnnxExportError, quantizeWeights } from '@loom/compiler';
import { GraphBuilder, interpret, mulberry32, type Graph, type NDArray, type WeightQuantization } from '@loom/graph';
import { writeFileAtomic } from '@loom/graph/node';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

const { onnx } = onnxProto;

function randomF32(shape: readonly number[], seed: number): NDArray {
  const random = mulberry32(seed);
  return { dtype: 'f32', shape: [...shape], data: Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => 2 * random() - 1) };
}

/** x [rows, K] -> gelu(x W1 + b1) W2^T: a product with a bias + gelu epilogue, then one read transposed (W2 is [out, hidden]). */
function mlp(k: number, hidden: number, out: number): Graph {
  const b = new GraphBuilder();
  const x = b.input('x', 'f32', ['rows', k]);
  const w1 = b.param('w1', 'f32', [k, hidden]);
  const b1 = b.param('b1', 'f32', [hidden]);
  const w2 = b.param('w2', 'f32', [out, hidden]);
  const h = b.add('fused_matmul', [x, w1, b1], { epilogue: { op: 'gelu', args: [{ op: 'add', args: [{ in: 0 }, { in: 1 }] }] } });
  return b.build({ y: b.add('matmul', [h, w2], { transposeB: true }) });
}

const mlpWeights = (k: number, hidden: number, out: number): Map<string, NDArray> =>
  new Map([
    ['w1', randomF32([k, hidden], 1)],
    ['b1', randomF32([hidden], 2)],
    ['w2', randomF32([out, hidden], 3)],
  ]);

/** Runs an exported model in onnxruntime on `feeds` (float32). */
async function runOnnx(model: Uint8Array, feeds: Readonly<Record<string, NDArray>>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(model);
  return session.run(Object.fromEntries(Object.entries(feeds).map(([name, v]) => [name, new ort.Tensor('float32', Float32Array.from(v.data), [...v.shape])])));
}

/** The worst |got - want| and the worst violation of |got - want| <= 1e-5 + 1e-4 |want| (<= 1 passes). */
function agreement(got: ort.Tensor, want: NDArray): { maxAbs: number; worst: number } {
  expect([...got.dims]).toEqual(want.shape);
  const data = got.data as Float32Array;
  let maxAbs = 0;
  let worst = 0;
  for (let i = 0; i < want.data.length; i++) {
    const diff = Math.abs(data[i]! - want.data[i]!);
    maxAbs = Math.max(maxAbs, diff);
    worst = Math.max(worst, diff / (1e-5 + 1e-4 * Math.abs(want.data[i]!)));
  }
  return { maxAbs, worst };
}

const decode = (model: Uint8Array) => onnx.ModelProto.decode(model);

const CASES: readonly [string, WeightQuantization, [number, number, number], number][] = [
  // label, store, [K, hidden, out], MatMulNBits nodes expected
  ['q8 (8 bits, groups of 32; K not a multiple)', { bits: 8, group: 32, scales: 'f32', zeroPoints: false }, [48, 40, 24], 2],
  ['q4 (4 bits, groups of 32)', { bits: 4, group: 32, scales: 'f32', zeroPoints: false }, [48, 40, 24], 2],
  ['4 bits, zero points, groups of 16 (3 blocks: an odd count of packed zero points)', { bits: 4, group: 16, scales: 'f32', zeroPoints: true }, [48, 40, 24], 2],
  ['8 bits, one scale per output channel (groups of 48 and 40: standard ops)', { bits: 8, group: 'channel', scales: 'f32', zeroPoints: false }, [48, 40, 24], 0],
  ['4 bits, zero points, per channel, odd K (standard ops, a padding nibble)', { bits: 4, group: 'channel', scales: 'f16', zeroPoints: true }, [45, 21, 7], 0],
  ['8 bits, zero points, groups of 64 (one partial block)', { bits: 8, group: 64, scales: 'f16', zeroPoints: true }, [45, 70, 9], 2],
];

describe('ONNX export of quantized weights', () => {
  it.each(CASES)('%s: onnxruntime agrees with the reference on the quantized graph', async (label, store, [k, hidden, out], nbits) => {
    const q = quantizeWeights(mlp(k, hidden, out), mlpWeights(k, hidden, out), store);
    expect(q.graph.nodes.filter((n) => n.op === 'quantized_matmul')).toHaveLength(2);
    const { model } = exportOnnx(q.graph, q.weights);
    const proto = decode(model);
    const nodes = proto.graph!.node!;
    expect(nodes.filter((n) => n.opType === 'MatMulNBits' && n.domain === 'com.microsoft'), 'MatMulNBits nodes').toHaveLength(nbits);
    expect(nodes.filter((n) => n.opType === 'MatMul'), 'plain MatMul nodes').toHaveLength(2 - nbits);
    expect(proto.opsetImport!.map((o) => `${o.domain}:${Number(o.version)}`)).toEqual(nbits > 0 ? [':20', 'com.microsoft:1'] : [':20']);
    // the codes travel packed (uint8), never as the int32 words or a float matrix
    const initializers = proto.graph!.initializer!;
    const elements = (t: (typeof initializers)[number]) => t.dims!.reduce<number>((p, d) => p * Number(d), 1);
    expect(initializers.filter((t) => t.dataType === onnx.TensorProto.DataType.INT32)).toEqual([]);
    expect(Math.max(...initializers.filter((t) => t.dataType === onnx.TensorProto.DataType.FLOAT).map(elements))).toBeLessThan(Math.min(k, out) * hidden);
    const packed = initializers.filter((t) => t.dataType === onnx.TensorProto.DataType.UINT8).reduce((s, t) => s + elements(t), 0);
    expect(packed).toBeLessThan(((k * hidden + hidden * out) * 4) / 2); // less than half the float32 bytes, even padded to blocks
    // what onnxWeightBytes predicts is at most what is written
    const written = initializers.reduce((s, t) => s + (t.rawData?.length ?? 0), 0);
    expect(onnxWeightBytes(q.graph)).toBeLessThanOrEqual(written);
    expect(onnxWeightBytes(q.graph)).toBeGreaterThan(written - 1024);

    let maxAbs = 0;
    for (const rows of [1, 5]) {
      const x = randomF32([rows, k], 10 + rows);
      const got = await runOnnx(model, { x });
      const want = interpret(q.graph, { x }, q.weights)['y']!;
      const r = agreement(got['y']!, want);
      expect(r.worst, `${rows} rows: worst violation of 1e-4 relative + 1e-5 absolute`).toBeLessThanOrEqual(1);
      maxAbs = Math.max(maxAbs, r.maxAbs);
    }
    console.log(`${label}: ${nbits} MatMulNBits, max abs diff vs reference ${maxAbs.toExponential(2)}`);
  });

  it('past externalAbove the packed codes go to the external data file, which onnxruntime reads; onnxDataIsExternal says so before', async () => {
    const q = quantizeWeights(mlp(64, 48, 24), mlpWeights(64, 48, 24), { bits: 4, group: 32, scales: 'f32', zeroPoints: true });
    const dir = mkdtempSync(join(tmpdir(), 'loom-onnx-q-'));
    const { model, externalData } = exportOnnx(q.graph, q.weights, { externalAbove: 1000, externalName: 'q.onnx.data' });
    expect(onnxDataIsExternal(q.graph, { externalAbove: 1000 })).toBe(true);
    expect(externalData!.byteLength).toBeGreaterThanOrEqual(64 * 48 / 2); // w1's codes (1536 bytes) at least
    writeFileSync(join(dir, 'q.onnx'), model);
    await writeFileAtomic(join(dir, 'q.onnx.data'), externalData!.chunks(), { replace: false });
    const x = randomF32([3, 64], 7);
    const session = await ort.InferenceSession.create(join(dir, 'q.onnx'));
    const got = await session.run({ x: new ort.Tensor('float32', x.data as Float32Array, [3, 64]) });
    expect(agreement(got['y']!, interpret(q.graph, { x }, q.weights)['y']!).worst).toBeLessThanOrEqual(1);
  });

  it('a standalone dequantize (plain and transposed, groups of 16 and whole columns) is the reference matrix', async () => {
    for (const store of [{ bits: 4, group: 16, scales: 'f32', zeroPoints: true }, { bits: 8, group: 'channel', scales: 'f32', zeroPoints: false }] as const) {
      const q = quantizeWeights(mlp(40, 12, 5), mlpWeights(40, 12, 5), store);
      const w = q.quantized.find((e) => e.name === 'w1')!;
      const groups = store.group === 16 ? 3 : 1;
      for (const transpose of [false, true]) {
        const g = new GraphBuilder();
        const ops = [g.param(w.codes, 'i32', [12, Math.ceil(40 / (store.bits === 8 ? 3 : 6))]), g.param(w.scales, 'f32', [12, groups]), ...(w.zeroPoints ? [g.param(w.zeroPoints, 'f32', [12, groups])] : [])];
        const graph = g.build({ w: g.add('dequantize', ops, { bits: store.bits, group: store.group === 16 ? 16 : 40, k: 40, zeroPoints: store.zeroPoints, transpose }) });
        const { model } = exportOnnx(graph, q.weights);
        expect(decode(model).graph!.node!.some((n) => n.opType === 'MatMulNBits')).toBe(false);
        const got = (await runOnnx(model, {}))['w']!;
        const r = agreement(got, interpret(graph, {}, q.weights)['w']!);
        expect(r.maxAbs, `${store.bits} bits, transpose ${transpose}`).toBeLessThanOrEqual(1e-6);
      }
    }
  });

  it('what cannot be exported is an OnnxExportError naming the op and node: codes that are not a weight, a code word past 24 bits', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [2, 40]);
    const codes = b.input('codes', 'i32', [4, 14]);
    const scales = b.param('scales', 'f32', [4, 2]);
    const computed = b.build({ y: b.add('quantized_matmul', [x, codes, scales], { bits: 8, group: 32 }) });
    const weights = new Map<string, NDArray>([['scales', randomF32([4, 2], 4)]]);
    expect(() => exportOnnx(computed, weights)).toThrow(OnnxExportError);
    expect(() => exportOnnx(computed, weights)).toThrow(/onnx export: dequantize of quantized_matmul \(node %3.*\): the codes must be a weight \(a param\).*computed by input/);

    const g = new GraphBuilder();
    const y = g.add('quantized_matmul', [g.input('x', 'f32', [2, 6]), g.param('codes', 'i32', [4, 2]), g.param('scales', 'f32', [4, 1])], { bits: 8, group: 32 });
    const bad = new Map<string, NDArray>([
      ['codes', { dtype: 'i32', shape: [4, 2], data: Int32Array.from([1, 2, 3, 2 ** 24, 5, 6, 7, 8]) }],
      ['scales', randomF32([4, 1], 5)],
    ]);
    expect(() => exportOnnx(g.build({ y }), bad)).toThrow(/quantized_matmul \(node %3.*\): weight 'codes' holds the code word 16777216 at position 3/);
  });
});

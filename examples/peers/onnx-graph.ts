/**
 * A small builder for ONNX graphs in memory (onnx-proto messages), so the peer models can be written
 * as straight-line code: each method adds one node and returns the name of its output.
 * Weights become float32 initializers with raw little-endian data, as exporters write them.
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import type { NDArray } from '@loom/graph';

const { onnx } = onnxProto;
const { AttributeType } = onnx.AttributeProto;
const { DataType } = onnx.TensorProto;

/** An attribute value: integers and floats are told apart by the helpers, since ONNX types them. */
export type Attribute = { readonly int: number } | { readonly float: number } | { readonly ints: readonly number[] } | { readonly string: string };

export const int = (value: number): Attribute => ({ int: value });
export const float = (value: number): Attribute => ({ float: value });
export const ints = (values: readonly number[]): Attribute => ({ ints: values });
export const string = (value: string): Attribute => ({ string: value });

/** A graph input or output: float32 or int64, each axis a size or a symbol (a dynamic dimension). */
export interface ValueSpec {
  readonly name: string;
  readonly dtype: 'float32' | 'int64';
  readonly shape: readonly (number | string)[];
}

function attributeProto(name: string, value: Attribute): OnnxTypes.IAttributeProto {
  if ('int' in value) return { name, type: AttributeType.INT, i: value.int };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('ints' in value) return { name, type: AttributeType.INTS, ints: [...value.ints] };
  return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value.string) };
}

function valueInfo({ name, dtype, shape }: ValueSpec): OnnxTypes.IValueInfoProto {
  const dim = shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType: dtype === 'float32' ? DataType.FLOAT : DataType.INT64, shape: { dim } } } };
}

function bytesOf(view: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

export class OnnxGraph {
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly initializers: OnnxTypes.ITensorProto[] = [];
  private readonly initializerNames = new Set<string>();
  private nextId = 0;

  /** Adds a node; returns its output names (`outputs` of them, named uniquely unless given). */
  nodeOutputs(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, Attribute>> = {}, outputs: number | readonly string[] = 1): string[] {
    const id = this.nextId++;
    const names = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, i) => `${opType.toLowerCase()}_${id}${outputs > 1 ? `_${i}` : ''}`) : [...outputs];
    const attribute = Object.entries(attributes).map(([name, value]) => attributeProto(name, value));
    this.nodes.push({ opType, name: `${opType}_${id}`, input: [...inputs], output: names, attribute });
    return names;
  }

  /** Adds a node with one output and returns that output's name (or `output` when given). */
  node(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, Attribute>> = {}, output?: string): string {
    return this.nodeOutputs(opType, inputs, attributes, output === undefined ? 1 : [output])[0]!;
  }

  /** A Loom weight as a float32 initializer under its own name (added once, however often used). */
  weight(name: string, array: NDArray): string {
    if (this.initializerNames.has(name)) return name;
    if (array.dtype !== 'f32') throw new TypeError(`onnx peer: weight ${name} is ${array.dtype}, expected f32`);
    // a Float64Array (f64 storage) is narrowed here; Float32Array data is referenced, not copied
    const data = array.data instanceof Float32Array ? array.data : Float32Array.from(array.data);
    this.addInitializer({ name, dims: [...array.shape], dataType: DataType.FLOAT, rawData: bytesOf(data) });
    return name;
  }

  /** A uint8 initializer (quantized codes packed as onnxruntime's MatMulNBits reads them). */
  bytes(name: string, values: Uint8Array, dims: readonly number[]): string {
    if (!this.initializerNames.has(name)) this.addInitializer({ name, dims: [...dims], dataType: DataType.UINT8, rawData: values });
    return name;
  }

  /** A node of onnxruntime's com.microsoft domain (MatMulNBits); the model then imports that domain. */
  msNode(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, Attribute>> = {}): string {
    this.usesMicrosoftDomain = true;
    const [out] = this.nodeOutputs(opType, inputs, attributes, 1);
    this.nodes[this.nodes.length - 1]!.domain = 'com.microsoft';
    return out!;
  }

  private usesMicrosoftDomain = false;

  /** A float32 constant tensor; `dims` [] makes a scalar. */
  floats(values: ArrayLike<number>, dims: readonly number[] = [values.length]): string {
    const name = `const_f32_${this.nextId++}`;
    this.addInitializer({ name, dims: [...dims], dataType: DataType.FLOAT, rawData: bytesOf(Float32Array.from(values)) });
    return name;
  }

  /** An int64 constant tensor (shapes, axes, indices); `dims` [] makes a scalar. */
  int64s(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = `const_i64_${this.nextId++}`;
    this.addInitializer({ name, dims: [...dims], dataType: DataType.INT64, rawData: bytesOf(BigInt64Array.from(values, (v) => BigInt(v))) });
    return name;
  }

  /** The serialized ModelProto. `opset` is the default domain's version. */
  encode(name: string, inputs: readonly ValueSpec[], outputs: readonly ValueSpec[], opset: number): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 9,
      producerName: 'loom-peers',
      opsetImport: [{ domain: '', version: opset }, ...(this.usesMicrosoftDomain ? [{ domain: 'com.microsoft', version: 1 }] : [])],
      graph: { name, node: this.nodes, initializer: this.initializers, input: inputs.map(valueInfo), output: outputs.map(valueInfo) },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private addInitializer(tensor: OnnxTypes.ITensorProto): void {
    this.initializers.push(tensor);
    this.initializerNames.add(tensor.name!);
  }
}

/**
 * An ONNX ModelProto under construction (onnx-proto's generated protobuf messages): nodes, int64 /
 * float / int32 initializers, typed graph inputs and outputs with symbolic dims as dim_param.
 * Initializers above a size limit in total go to an external data file, as the ONNX spec lays out.
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import type { DType, NDArray, Shape } from '@loom/graph';
import type { EncodedModel } from './encoded-model.ts';

const { onnx } = onnxProto;
const { AttributeType } = onnx.AttributeProto;
export const OnnxDataType = onnx.TensorProto.DataType;

export type Attribute = { readonly int: number } | { readonly float: number } | { readonly ints: readonly number[] } | { readonly string: string };

export const elemType = (dtype: DType): number => (dtype === 'f32' ? OnnxDataType.FLOAT : OnnxDataType.INT32);

function attributeProto(name: string, value: Attribute): OnnxTypes.IAttributeProto {
  if ('int' in value) return { name, type: AttributeType.INT, i: value.int };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('ints' in value) return { name, type: AttributeType.INTS, ints: [...value.ints] };
  return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value.string) };
}

const bytesOf = (view: ArrayBufferView): Uint8Array => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

export class OnnxModel {
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly initializers: { proto: OnnxTypes.ITensorProto; raw: Uint8Array }[] = [];
  private readonly inputs: OnnxTypes.IValueInfoProto[] = [];
  private readonly outputs: OnnxTypes.IValueInfoProto[] = [];
  private nextId = 0;

  /** A fresh value name. */
  name(hint: string): string {
    return `%${hint}_${this.nextId++}`;
  }

  /** Adds a node with one output; returns the output's name. */
  node(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, Attribute>> = {}, output = this.name(opType.toLowerCase())): string {
    const attribute = Object.entries(attributes).map(([name, value]) => attributeProto(name, value));
    this.nodes.push({ opType, name: `${opType}_${this.nextId++}`, input: [...inputs], output: [output], attribute });
    return output;
  }

  /** A tensor as an initializer (weights, constants); float32 or int32 as Loom stores them. */
  tensor(name: string, array: NDArray): string {
    const data = array.dtype === 'f32' ? (array.data instanceof Float32Array ? array.data : Float32Array.from(array.data)) : array.data instanceof Int32Array ? array.data : Int32Array.from(array.data);
    this.initializers.push({ proto: { name, dims: [...array.shape], dataType: elemType(array.dtype) }, raw: bytesOf(data) });
    return name;
  }

  /** An int64 constant (shapes, axes, steps). */
  int64s(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.name('i64');
    this.initializers.push({ proto: { name, dims: [...dims], dataType: OnnxDataType.INT64 }, raw: bytesOf(BigInt64Array.from(values, (v) => BigInt(v))) });
    return name;
  }

  input(name: string, dtype: DType, shape: Shape): void {
    this.inputs.push(valueInfo(name, dtype, shape));
  }

  output(name: string, dtype: DType, shape: Shape): void {
    this.outputs.push(valueInfo(name, dtype, shape));
  }

  /**
   * The serialized ModelProto. Initializers stay inside unless they total more than
   * `externalAbove` bytes: then each tensor of 1 KiB or more goes into `externalName` at an offset
   * (64-byte aligned), and the model only records where (protobuf messages cannot exceed 2 GiB).
   */
  encode(options: { opset: number; producer: string; externalAbove: number; externalName: string }): EncodedModel {
    const total = this.initializers.reduce((n, t) => n + t.raw.length, 0);
    const external = total > options.externalAbove;
    const chunks: Uint8Array[] = [];
    let offset = 0;
    const initializer = this.initializers.map(({ proto, raw }) => {
      // small tensors (shapes, axes, scalars) stay inline: shape inference reads them
      if (!external || raw.length < 1024 || proto.dataType === OnnxDataType.INT64) return { ...proto, rawData: raw };
      const pad = (64 - (offset % 64)) % 64;
      if (pad) chunks.push(new Uint8Array(pad));
      offset += pad;
      chunks.push(raw);
      const location = [
        { key: 'location', value: options.externalName },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(raw.length) },
      ];
      offset += raw.length;
      return { ...proto, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: location };
    });
    const model = onnx.ModelProto.create({
      irVersion: 9,
      producerName: options.producer,
      opsetImport: [{ domain: '', version: options.opset }],
      graph: { name: 'loom', node: this.nodes, initializer, input: this.inputs, output: this.outputs },
    });
    const bytes = onnx.ModelProto.encode(model).finish();
    if (!external) return { model: bytes };
    const data = new Uint8Array(offset);
    let at = 0;
    for (const chunk of chunks) {
      data.set(chunk, at);
      at += chunk.length;
    }
    return { model: bytes, externalData: data };
  }
}

function valueInfo(name: string, dtype: DType, shape: Shape): OnnxTypes.IValueInfoProto {
  const dim = shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType: elemType(dtype), shape: { dim } } } };
}

/**
 * An ONNX ModelProto under construction (onnx-proto's generated protobuf messages): nodes (of the
 * default domain, or of another such as onnxruntime's `com.microsoft`, each imported at the version
 * asked), int64 / float / int32 / uint8 initializers, typed graph inputs and outputs with symbolic
 * dims as dim_param.
 * Initializers above a size limit in total go to an external data file, as the ONNX spec lays out;
 * that file is handed out tensor by tensor (ExternalData.chunks), never as one array.
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import type { DType, NDArray, Shape } from '@loom/graph';
import type { EncodedModel, ExternalData } from './encoded-model.ts';

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

/** An initializer's proto without its data, and the data's bytes, made only when written. */
interface Initializer {
  readonly proto: OnnxTypes.ITensorProto;
  readonly byteLength: number;
  /** Little-endian bytes: a view of a float32 / int32 array as Loom stores it, else converted now. */
  bytes(): Uint8Array;
}

export class OnnxModel {
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly initializers: Initializer[] = [];
  private readonly inputs: OnnxTypes.IValueInfoProto[] = [];
  private readonly outputs: OnnxTypes.IValueInfoProto[] = [];
  /** Operator sets other than the default domain that nodes use: domain -> version. */
  private readonly domains = new Map<string, number>();
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

  /** A node of an operator set other than ONNX's own (`com.microsoft`'s contrib ops), imported at `version`; returns the output's name. */
  domainNode(domain: string, version: number, opType: string, inputs: readonly string[], attributes: Readonly<Record<string, Attribute>> = {}): string {
    const known = this.domains.get(domain);
    if (known !== undefined && known !== version) throw new Error(`onnx model: the operator set '${domain}' is imported at version ${known}, a node asks for ${version}`);
    this.domains.set(domain, version);
    const output = this.name(opType.toLowerCase());
    const attribute = Object.entries(attributes).map(([name, value]) => attributeProto(name, value));
    this.nodes.push({ opType, domain, name: `${opType}_${this.nextId++}`, input: [...inputs], output: [output], attribute });
    return output;
  }

  /** A node of several outputs (TopK's values and indices): their names, in order. */
  nodeOutputs(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, Attribute>>, count: number): string[] {
    const outputs = Array.from({ length: count }, () => this.name(opType.toLowerCase()));
    const attribute = Object.entries(attributes).map(([name, value]) => attributeProto(name, value));
    this.nodes.push({ opType, name: `${opType}_${this.nextId++}`, input: [...inputs], output: outputs, attribute });
    return outputs;
  }

  /**
   * A tensor as an initializer (weights, constants), float32 or int32 as Loom stores them. Its bytes
   * are taken (or converted, from float64) only when the model is encoded or its data file written.
   */
  tensor(name: string, array: NDArray): string {
    const bytes = () => bytesOf(array.dtype === 'f32' ? (array.data instanceof Float32Array ? array.data : Float32Array.from(array.data)) : array.data instanceof Int32Array ? array.data : Int32Array.from(array.data));
    this.initializers.push({ proto: { name, dims: [...array.shape], dataType: elemType(array.dtype) }, byteLength: array.data.length * 4, bytes });
    return name;
  }

  /**
   * A uint8 initializer of `byteLength` bytes (packed quantized codes), made by `bytes` only when the
   * model is encoded or its data file written, so that a large one is never held beside the weights.
   */
  uint8s(name: string, dims: readonly number[], byteLength: number, bytes: () => Uint8Array): string {
    this.initializers.push({ proto: { name, dims: [...dims], dataType: OnnxDataType.UINT8 }, byteLength, bytes });
    return name;
  }

  /** An int64 constant (shapes, axes, steps). */
  int64s(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.name('i64');
    const raw = bytesOf(BigInt64Array.from(values, (v) => BigInt(v)));
    this.initializers.push({ proto: { name, dims: [...dims], dataType: OnnxDataType.INT64 }, byteLength: raw.length, bytes: () => raw });
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
   * The data file is returned as its layout, to be written tensor by tensor.
   */
  encode(options: { opset: number; producer: string; externalAbove: number; externalName: string }): EncodedModel {
    const total = this.initializers.reduce((n, t) => n + t.byteLength, 0);
    const external = total > options.externalAbove;
    const placed: { offset: number; tensor: Initializer }[] = [];
    let end = 0;
    const initializer = this.initializers.map((tensor) => {
      const { proto, byteLength } = tensor;
      // small tensors (shapes, axes, scalars) stay inline: shape inference reads them
      if (!external || byteLength < 1024 || proto.dataType === OnnxDataType.INT64) return { ...proto, rawData: tensor.bytes() };
      const offset = end + ((64 - (end % 64)) % 64);
      placed.push({ offset, tensor });
      end = offset + byteLength;
      const location = [
        { key: 'location', value: options.externalName },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(byteLength) },
      ];
      return { ...proto, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: location };
    });
    const model = onnx.ModelProto.create({
      irVersion: 9,
      producerName: options.producer,
      opsetImport: [{ domain: '', version: options.opset }, ...[...this.domains].map(([domain, version]) => ({ domain, version }))],
      graph: { name: 'loom', node: this.nodes, initializer, input: this.inputs, output: this.outputs },
    });
    const bytes = onnx.ModelProto.encode(model).finish();
    return external ? { model: bytes, externalData: externalDataFile(placed, end) } : { model: bytes };
  }
}

/** The external data file: each tensor's bytes at its offset, zeros between (the alignment). */
function externalDataFile(placed: readonly { offset: number; tensor: Initializer }[], byteLength: number): ExternalData {
  return {
    byteLength,
    *chunks() {
      let at = 0;
      for (const { offset, tensor } of placed) {
        if (offset > at) yield new Uint8Array(offset - at);
        yield tensor.bytes();
        at = offset + tensor.byteLength;
      }
    },
  };
}

function valueInfo(name: string, dtype: DType, shape: Shape): OnnxTypes.IValueInfoProto {
  const dim = shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType: elemType(dtype), shape: { dim } } } };
}

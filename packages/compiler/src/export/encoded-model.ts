/**
 * What an export returns: the serialized model, and the external data file when the weights went
 * there. Its own module so that the public declarations never name onnx-proto's types (whose own
 * .d.ts needs protobufjs's Long in scope).
 */
export interface EncodedModel {
  readonly model: Uint8Array;
  /** The external data file when the initializers went there (name: the `externalName` option). */
  readonly externalData?: ExternalData;
}

/**
 * An external data file, handed out tensor by tensor so that it never sits in one array (gpt2-xl's
 * weights are 6.2 GB, more than one array holds): write `chunks()` in order, e.g. with writeFileAtomic.
 */
export interface ExternalData {
  /** The file's size in bytes. */
  readonly byteLength: number;
  /** The file's bytes in order: each tensor's data (a view of the weight itself where it is float32 / int32), zeros between for alignment. Each call starts again. */
  chunks(): Iterable<Uint8Array>;
}

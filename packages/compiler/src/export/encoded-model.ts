/**
 * What an export returns: the serialized model, and the external data file's bytes when the
 * weights went there. Its own module so that the public declarations never name onnx-proto's types
 * (whose own .d.ts needs protobufjs's Long in scope).
 */
export interface EncodedModel {
  readonly model: Uint8Array;
  /** The external data file's bytes when the initializers went there (name: the `externalName` option). */
  readonly externalData?: Uint8Array;
}

import { ConfigError } from '../errors.ts';

/** What the SentencePiece processor of @sctg/sentencepiece-js is asked here (its .d.ts types it `any`). */
export interface SentencePieceProcessor {
  loadFromB64StringModel(b64: string): Promise<void>;
  encodePieces(text: string): string[];
  encodeIds(text: string): number[];
  decodeIds(ids: Int32Array): string;
  processor: { status(): { ToString(): string; delete(): void } };
}

/**
 * The official SentencePiece library (compiled to WebAssembly by @sctg/sentencepiece-js) with a
 * serialized ModelProto loaded, or a ConfigError naming `where`. The package's load drops
 * SentencePiece's status (a corrupt, empty or truncated model loads as nothing), so the status is
 * asked for afterwards: SentencePiece's own check that the ModelProto parsed and is consistent (an
 * unknown piece, byte pieces, ids of the right types).
 */
export async function loadSentencePieceModel(model: Uint8Array, where: string): Promise<SentencePieceProcessor> {
  // the package embeds its demo models (4 MB of JavaScript): loaded only when a text is tokenized
  const { SentencePieceProcessor } = await import('@sctg/sentencepiece-js');
  const spm = new SentencePieceProcessor() as SentencePieceProcessor;
  try {
    await spm.loadFromB64StringModel(Buffer.from(model.buffer, model.byteOffset, model.byteLength).toString('base64'));
  } catch (e) {
    throw new ConfigError(`${where}: not a SentencePiece model (${String((e as Error)?.message ?? e).split('\n')[0]})`);
  }
  const status = spm.processor.status();
  const verdict = status.ToString();
  status.delete();
  if (verdict !== 'OK') throw new ConfigError(`${where}: not a SentencePiece model that SentencePiece can load (${verdict})`);
  return spm;
}

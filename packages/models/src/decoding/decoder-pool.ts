import { ModelInputError } from '../errors.ts';
import type { DecoderContext, KvCacheDecoder } from './kv-cache-decoder.ts';
import type { StepDecoder } from './step.ts';

/**
 * A runner's idle KV-cache decoders, kept with their prepared plans. Preparing a decoder compiles its
 * prefill and step graphs (and on a GPU builds their kernels): most of a warm call of a small model
 * (the reverse model on the cpu: about 60 of 100 ms a `reverse`). `take` lends an idle decoder, or
 * makes one when none is idle (two decodings at once each get their own); the borrower's `dispose`
 * gives it back with its caches dropped (so an idle decoder holds its plans, not a batch's caches),
 * and past `keep` idle ones frees it.
 */
export class DecoderPool {
  private readonly idle: KvCacheDecoder[] = [];

  constructor(
    private readonly make: () => KvCacheDecoder,
    private readonly keep = 1,
  ) {}

  /** A decoder for one decoding (its prefill reads `context`); dispose it when done. */
  take(context?: DecoderContext): StepDecoder {
    const decoder = this.idle.pop() ?? this.make();
    decoder.reset(context);
    return new LentDecoder(decoder, (d, failed) => this.giveBack(d, failed));
  }

  /** Frees the idle decoders; decoders lent out are freed when given back past `keep`, as always. */
  async dispose(): Promise<void> {
    await Promise.all(this.idle.splice(0).map((d) => d.dispose()));
  }

  /** A decoder whose borrower saw an error is freed, not kept: its plans may have failed to prepare. */
  private async giveBack(decoder: KvCacheDecoder, failed: boolean): Promise<void> {
    if (failed || this.idle.length >= this.keep) return decoder.dispose();
    decoder.reset();
    this.idle.push(decoder);
  }
}

/** One borrower's handle on a pooled decoder: after `dispose` the decoder is someone else's, so the handle refuses. */
class LentDecoder implements StepDecoder {
  private decoder: KvCacheDecoder | undefined;
  private failed = false;

  constructor(
    decoder: KvCacheDecoder,
    private readonly giveBack: (decoder: KvCacheDecoder, failed: boolean) => Promise<void>,
  ) {
    this.decoder = decoder;
  }

  prefill(prefixes: readonly (readonly number[])[]): Promise<Float32Array[]> {
    return this.call((d) => d.prefill(prefixes));
  }

  step(tokens: readonly number[]): Promise<Float32Array[]> {
    return this.call((d) => d.step(tokens));
  }

  reorder(order: readonly number[]): Promise<void> {
    return this.call((d) => d.reorder(order));
  }

  async dispose(): Promise<void> {
    const decoder = this.decoder;
    this.decoder = undefined;
    if (decoder) await this.giveBack(decoder, this.failed);
  }

  private async call<T>(work: (decoder: KvCacheDecoder) => Promise<T>): Promise<T> {
    if (!this.decoder) throw new ModelInputError('this decoder was disposed: ask the model for another (model.decoder())');
    try {
      return await work(this.decoder);
    } catch (e) {
      this.failed = true;
      throw e;
    }
  }
}

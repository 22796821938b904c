import { ModelInputError } from '../errors.ts';
import type { DecoderContext, KvCacheDecoder } from './kv-cache-decoder.ts';
import type { StepDecoder } from './step.ts';

/**
 * A runner's idle KV-cache decoders, kept with their prepared plans. Preparing a decoder compiles its
 * prefill and step graphs (and on a GPU builds their kernels): most of a warm call of a small model
 * (a `reverse` on the cpu took 104-226 ms before, 36 ms after). `take` lends an idle decoder, or
 * makes one when none is idle (two decodings at once each get their own); the borrower's `dispose`
 * gives it back with its caches dropped, device copies included (so an idle decoder holds its plans,
 * not a batch's caches), and past `keep` idle ones frees it. A decoder lent out before the pool's
 * `dispose` (the runner's) is freed when it comes back.
 */
export class DecoderPool {
  private readonly idle: KvCacheDecoder[] = [];
  /** Bumped by `dispose`: a decoder lent out in an earlier generation is freed when given back. */
  private generation = 0;

  constructor(
    private readonly make: () => KvCacheDecoder,
    private readonly keep = 1,
  ) {}

  /** A decoder for one decoding (its prefill reads `context`); dispose it when done. */
  take(context?: DecoderContext): StepDecoder {
    const decoder = this.idle.pop() ?? this.make();
    decoder.reset(context);
    const generation = this.generation;
    return new LentDecoder(decoder, (d, failed) => this.giveBack(d, failed, generation));
  }

  /** Frees the idle decoders now, and those lent out when they come back; later `take`s start afresh. */
  async dispose(): Promise<void> {
    this.generation++;
    await Promise.all(this.idle.splice(0).map((d) => d.dispose()));
  }

  /**
   * A decoder whose borrower saw an error other than a ModelInputError (bad tokens, refused before
   * anything runs) is freed, not kept: its plans may have failed to prepare.
   */
  private async giveBack(decoder: KvCacheDecoder, failed: boolean, generation: number): Promise<void> {
    if (failed || generation !== this.generation || this.idle.length >= this.keep) return decoder.dispose();
    decoder.reset();
    this.idle.push(decoder);
  }
}

/** One borrower's handle on a pooled decoder: after `dispose` the decoder is someone else's, so the handle refuses. */
class LentDecoder implements StepDecoder {
  private decoder: KvCacheDecoder | undefined;
  private failed = false;
  /** The calls in flight, which `dispose` waits for before giving the decoder back. */
  private pending: Promise<unknown> = Promise.resolve();

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
    if (!decoder) return;
    await this.pending; // settled, never rejected
    await this.giveBack(decoder, this.failed);
  }

  private call<T>(work: (decoder: KvCacheDecoder) => Promise<T>): Promise<T> {
    if (!this.decoder) return Promise.reject(new ModelInputError('this decoder was disposed: ask the model for another (model.decoder())'));
    const result = work(this.decoder).catch((e: unknown) => {
      // the decoder refuses bad tokens before running anything: it stays good to keep
      if (!(e instanceof ModelInputError)) this.failed = true;
      throw e;
    });
    this.pending = Promise.allSettled([this.pending, result]);
    return result;
  }
}

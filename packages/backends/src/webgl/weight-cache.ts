import type { GlTensor } from './runtime.ts';

/** Bytes of weights (and what was drawn from them) a context keeps after the last model using them is disposed. */
export const IDLE_WEIGHT_BYTES = 256 * 2 ** 20;

interface CachedWeight {
  readonly tensor: GlTensor;
  /** The weight's array, to forget the entry when it is evicted (weakly: the cache keeps no array alive); none for an adopted texture. */
  readonly data: WeakRef<object> | undefined;
  readonly hash: string;
  readonly bytes: number;
  /** Models using it. */
  users: number;
  /** Textures drawn from it once (GlPass.keep: the weight packed for matmul), by pass. */
  readonly derived: Map<string, GlTensor>;
  /** No further model gets it (its array's contents changed since, or it was adopted): freed at its last release. */
  stale: boolean;
}

/**
 * The weights of one GL context, shared by the models on it: a model prepared with the same weight
 * arrays as one before (decoding prepares its models again for every generation) takes their
 * textures, and what was drawn from them (packed copies), instead of uploading and packing again.
 * An array is recognised by identity and its contents are hashed at every prepare, so a weight
 * changed in place is uploaded again. Weights no model uses stay idle up to IDLE_WEIGHT_BYTES
 * (least recently used released first).
 */
export class WeightCache {
  private readonly byData = new WeakMap<object, CachedWeight>();
  /** Every entry by its texture; Map order is the recency order for eviction. */
  private readonly byTensor = new Map<GlTensor, CachedWeight>();

  constructor(
    private readonly free: (tensor: GlTensor) => void,
    private readonly bytesOf: (tensor: GlTensor) => number,
    private readonly idleBytes = IDLE_WEIGHT_BYTES,
  ) {}

  /** The texture of a weight's array: a cached one with the same contents, or `upload()`'s (then cached). */
  acquire(data: ArrayLike<number>, upload: () => GlTensor): GlTensor {
    if (!(data instanceof Float32Array || data instanceof Int32Array)) return this.adopt(upload());
    const hash = contentHash(data);
    const cached = this.byData.get(data);
    if (cached && cached.hash === hash) {
      cached.users++;
      this.byTensor.delete(cached.tensor);
      this.byTensor.set(cached.tensor, cached);
      return cached.tensor;
    }
    if (cached) {
      // changed in place: models holding the old texture keep it until they are disposed
      cached.stale = true;
      this.byData.delete(data);
      if (cached.users === 0) this.evict(cached);
    }
    const tensor = upload();
    const entry: CachedWeight = { tensor, data: new WeakRef(data), hash, bytes: this.bytesOf(tensor), users: 1, derived: new Map(), stale: false };
    this.byData.set(data, entry);
    this.byTensor.set(tensor, entry);
    return tensor;
  }

  /**
   * A static texture no other model can be given (a constant, a weight that is no typed array):
   * held here for its one model, so that what is drawn from it once is kept with it too; freed at
   * its release.
   */
  adopt(tensor: GlTensor): GlTensor {
    this.byTensor.set(tensor, { tensor, data: undefined, hash: '', bytes: this.bytesOf(tensor), users: 1, derived: new Map(), stale: true });
    return tensor;
  }

  /** Whether `tensor` is a weight or constant held here (its derived textures can be kept with it). */
  has(tensor: GlTensor): boolean {
    return this.byTensor.has(tensor);
  }

  /** The texture drawn from a cached weight by pass `key`, drawn by `draw` the first time; the caller gets one holder (release it). */
  derived(tensor: GlTensor, key: string, draw: () => GlTensor, retain: (t: GlTensor) => GlTensor): GlTensor {
    const entry = this.byTensor.get(tensor)!;
    let out = entry.derived.get(key);
    if (!out) {
      out = draw();
      entry.derived.set(key, out);
      (entry as { bytes: number }).bytes += this.bytesOf(out);
    }
    return retain(out);
  }

  /** A model lets go of a weight; the texture stays idle for the next model (or is freed, if not cached). */
  release(tensor: GlTensor): void {
    const entry = this.byTensor.get(tensor);
    if (!entry) {
      this.free(tensor);
      return;
    }
    entry.users--;
    if (entry.users > 0) return;
    if (entry.stale) this.evict(entry);
    else this.trim(this.idleBytes);
  }

  /** Frees idle weights, least recently used first, until at most `keep` bytes of them are left. */
  trim(keep = 0): void {
    let idle = 0;
    for (const entry of this.byTensor.values()) if (entry.users === 0) idle += entry.bytes;
    for (const entry of this.byTensor.values()) {
      if (idle <= keep) return;
      if (entry.users > 0) continue;
      idle -= entry.bytes;
      this.evict(entry);
    }
  }

  private evict(entry: CachedWeight): void {
    this.byTensor.delete(entry.tensor);
    const data = entry.data?.deref();
    if (data && this.byData.get(data) === entry) this.byData.delete(data);
    for (const t of entry.derived.values()) this.free(t);
    this.free(entry.tensor);
  }
}

/** Two 32-bit hashes of an array's bytes (FNV-1a and a multiply-rotate), for recognising its contents again. */
function contentHash(data: Float32Array | Int32Array): string {
  const words = new Uint32Array(data.buffer, data.byteOffset, data.length);
  let a = 0x811c9dc5;
  let b = 0x9747b28c ^ words.length;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    a = Math.imul(a ^ w, 0x01000193);
    b = Math.imul((b << 13) | (b >>> 19), 5) + 0xe6546b64 + Math.imul(w, 0xcc9e2d51);
  }
  return `${data.constructor.name}:${data.length}:${(a >>> 0).toString(16)}:${(b >>> 0).toString(16)}`;
}

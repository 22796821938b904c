/**
 * The model's side of a decoding loop, one token per row per step. The loop (`decodeLoop`) only sees
 * this interface, so a KV-cache implementation (feed only the new tokens, keep keys and values) can
 * replace the full-recompute ones without touching the samplers or the stopping rules.
 */
export interface StepDecoder {
  /** Starts from a prefix per row and returns each row's next-token logits [V]. Called once. */
  prefill(prefixes: readonly (readonly number[])[]): Promise<Float32Array[]>;
  /** Appends one token to every row (finished rows get a filler) and returns the next logits. */
  step(tokens: readonly number[]): Promise<Float32Array[]>;
  /**
   * Makes row r continue what row `order[r]` held (beam search keeps its best hypotheses): the rows'
   * tokens, and in a KV-cache decoder their caches, inside the backend.
   */
  reorder?(order: readonly number[]): Promise<void>;
  /** Frees what the decoder holds (prepared plans, caches). */
  dispose?(): Promise<void>;
}

/**
 * A StepDecoder that recomputes the whole prefix each step: it keeps the rows and runs a graph whose
 * output is each row's last-position logits. Simple, exact, and O(T^2) over a generation.
 */
export class RecomputeDecoder implements StepDecoder {
  private rows: number[][] = [];

  constructor(private readonly lastLogits: (rows: readonly (readonly number[])[]) => Promise<Float32Array[]>) {}

  prefill(prefixes: readonly (readonly number[])[]): Promise<Float32Array[]> {
    this.rows = prefixes.map((p) => [...p]);
    return this.lastLogits(this.rows);
  }

  step(tokens: readonly number[]): Promise<Float32Array[]> {
    tokens.forEach((t, b) => this.rows[b]!.push(t));
    return this.lastLogits(this.rows);
  }

  async reorder(order: readonly number[]): Promise<void> {
    this.rows = order.map((from) => [...this.rows[from]!]);
  }
}

export interface DecodeLoopOptions {
  /** Tokens to add per row at most. */
  readonly maxNewTokens: number;
  /** A row stops after producing this token (it is kept in the output). */
  readonly stopAt?: number | null;
  /** Chooses row `row`'s next token from its logits; `step` counts the new tokens, this one included (1, 2, ...). */
  readonly pick: (logits: Float32Array, row: number, step: number) => number;
  /** Fed to rows that have stopped, so every row advances together. */
  readonly filler: number;
  /** Called with each new token as it is chosen (streaming output). */
  readonly onToken?: (row: number, token: number) => void;
}

/** Runs a decoder until every row has stopped or produced maxNewTokens; returns prefix + new tokens per row. */
export async function decodeLoop(decoder: StepDecoder, prefixes: readonly (readonly number[])[], options: DecodeLoopOptions): Promise<number[][]> {
  const out = prefixes.map((p) => [...p]);
  const done = prefixes.map(() => options.maxNewTokens <= 0);
  if (done.every(Boolean)) return out;
  let logits = await decoder.prefill(prefixes);
  for (let produced = 1; ; produced++) {
    const tokens = logits.map((l, row) => (done[row] ? options.filler : options.pick(l, row, produced)));
    tokens.forEach((t, row) => {
      if (done[row]) return;
      out[row]!.push(t);
      options.onToken?.(row, t);
      if (t === options.stopAt || produced >= options.maxNewTokens) done[row] = true;
    });
    if (done.every(Boolean)) return out;
    logits = await decoder.step(tokens);
  }
}

/** Runs `work` on a decoder and frees the decoder afterwards, however `work` ends. */
export async function usingDecoder<T>(decoder: StepDecoder, work: (decoder: StepDecoder) => Promise<T>): Promise<T> {
  try {
    return await work(decoder);
  } finally {
    await decoder.dispose?.();
  }
}

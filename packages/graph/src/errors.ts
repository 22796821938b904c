/**
 * Every error Loom raises on bad input is a LoomError with a stable `code`, so callers (and the CLI)
 * can tell user mistakes from bugs and print one clear line instead of a stack trace.
 */
export class LoomError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A node's inputs or attributes do not fit its op: names the op, the input types and where it was built. */
export class GraphTypeError extends LoomError {
  constructor(message: string) {
    super('graph-type', message);
  }
}

/** A graph (JSON or in memory) is malformed; `path` locates the problem, e.g. `$.nodes[3].attrs.axis`. */
export class GraphFormatError extends LoomError {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super('graph-format', `${path}: ${message}`);
  }
}

/** Run-time inputs do not match the graph's declared inputs (missing, wrong dtype, wrong shape). */
export class InputError extends LoomError {
  constructor(message: string) {
    super('input', message);
  }
}

/** Frames from these folders are Loom's own machinery, not the model code a user wants to see. */
const INTERNAL = [/[\\/]packages[\\/]graph[\\/]src[\\/]/, /node_modules/, /node:internal/, /^internal\//];

/**
 * The `file:line` of the first caller outside the graph package: the model code that created a node.
 * Works in Node and browsers that expose V8-style stacks; returns undefined elsewhere.
 *
 * Every node of every graph asks, so it is kept cheap: V8's call sites are read unformatted and the
 * caller's position is mapped through Node's source map of its file, once per position. A formatted
 * stack (`new Error().stack`) maps every frame through the source maps at every call: under tsx that
 * was most of the time spent building a model's graphs.
 */
export function captureSource(): string | undefined {
  const site = firstOutsideCallSite();
  if (site === undefined) return fromFormattedStack();
  if (site === null) return undefined;
  const key = `${site.file}:${site.line}:${site.column}`;
  let where = located.get(key);
  if (where === undefined) {
    where = mappedPosition(site) ?? fromFormattedStack() ?? null;
    located.set(key, where);
  }
  return where ?? undefined;
}

/** Caller positions already mapped (null: no position could be found). */
const located = new Map<string, string | null>();

interface CallSitePosition {
  readonly file: string;
  /** 1-based, in the code the engine runs (before source maps). */
  readonly line: number;
  readonly column: number;
}

interface V8CallSite {
  getFileName(): string | null | undefined;
  getLineNumber(): number | null;
  getColumnNumber(): number | null;
}

type PrepareStackTrace = (error: Error, sites: V8CallSite[]) => unknown;

/**
 * The first call site outside Loom's graph package, from V8's structured stack; undefined where the
 * engine has no structured stacks (then the formatted stack is read), null where no frame is outside.
 */
function firstOutsideCallSite(): CallSitePosition | null | undefined {
  const errorClass = Error as unknown as { captureStackTrace?: (target: object) => void; prepareStackTrace?: PrepareStackTrace };
  if (typeof errorClass.captureStackTrace !== 'function') return undefined;
  const previous = errorClass.prepareStackTrace;
  const holder: { stack?: unknown } = {};
  try {
    errorClass.prepareStackTrace = (_, sites) => sites;
    errorClass.captureStackTrace(holder);
    // read while the override is in place: V8 formats the stack on its first read
    const sites = holder.stack;
    if (!Array.isArray(sites)) return undefined;
    for (const site of sites as V8CallSite[]) {
      const file = site.getFileName();
      const line = site.getLineNumber();
      if (!file || line === null || INTERNAL.some((re) => re.test(file))) continue;
      return { file, line, column: site.getColumnNumber() ?? 1 };
    }
    return null;
  } finally {
    errorClass.prepareStackTrace = previous;
  }
}

interface NodeSourceMap {
  findEntry(line: number, column: number): { originalSource?: string; originalLine?: number } | Record<string, never>;
}

/**
 * The position in the source a user wrote: through the source map Node keeps for the file (tsx and
 * --enable-source-maps give it one), or the position itself for plain JavaScript. Undefined when
 * the file was transformed by a loader whose maps Node does not hold (vitest's): the formatted
 * stack, which that loader maps, is read instead.
 */
function mappedPosition(site: CallSitePosition): string | undefined {
  const moduleApi = nodeModuleApi();
  const map = moduleApi?.findSourceMap(site.file) as NodeSourceMap | undefined;
  if (map) {
    const entry = map.findEntry(site.line - 1, site.column - 1);
    if ('originalSource' in entry && entry.originalSource && entry.originalLine !== undefined) return `${relativeToCwd(entry.originalSource)}:${entry.originalLine + 1}`;
    return undefined;
  }
  // a TypeScript file run without a map Node knows of was rewritten by someone else
  if (/\.[cm]?tsx?$/.test(site.file)) return undefined;
  return `${relativeToCwd(site.file)}:${site.line}`;
}

function nodeModuleApi(): { findSourceMap(path: string): unknown } | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (name: string) => unknown } }).process;
  const api = proc?.getBuiltinModule?.('node:module') as { findSourceMap?: (path: string) => unknown } | undefined;
  return typeof api?.findSourceMap === 'function' ? (api as { findSourceMap(path: string): unknown }) : undefined;
}

/** The first frame outside the graph package of a formatted stack (mapped by whatever maps stacks). */
function fromFormattedStack(): string | undefined {
  const stack = new Error().stack;
  if (!stack) return undefined;
  for (const line of stack.split('\n').slice(1)) {
    const match = /\(?((?:file:\/\/)?[^()\s]+?):(\d+):\d+\)?\s*$/.exec(line.trim());
    if (!match) continue;
    const file = match[1]!;
    if (INTERNAL.some((re) => re.test(file))) continue;
    return `${relativeToCwd(file)}:${match[2]}`;
  }
  return undefined;
}

function relativeToCwd(file: string): string {
  const path = file.replace(/^file:\/\//, '');
  const cwd = typeof process !== 'undefined' && typeof process.cwd === 'function' ? process.cwd() : '';
  return cwd && path.startsWith(cwd + '/') ? path.slice(cwd.length + 1) : path;
}

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
  const sites = callSites();
  if (sites === undefined) return fromFormattedStack();
  for (const site of sites) {
    const position = originalPosition(site);
    // a TypeScript file whose maps Node does not hold (vitest's): the formatted stack is mapped
    if (position === UNMAPPED) return fromFormattedStack();
    // tested on the source the frame maps to: in a bundle Loom and the model share one file
    if (position === null || INTERNAL.some((re) => re.test(position.file))) continue;
    return `${relativeToCwd(position.file)}:${position.line}`;
  }
  return undefined;
}

/** A frame of a TypeScript file Node holds no source map of (another loader maps its stacks). */
const UNMAPPED = Symbol('unmapped');

/** Where frames map to, by generated position (null: no file, or no line). */
const mapped = new Map<string, { readonly file: string; readonly line: number } | null | typeof UNMAPPED>();

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

/** V8's call sites of the current stack, unformatted; undefined where the engine has no structured stacks. */
function callSites(): V8CallSite[] | undefined {
  const errorClass = Error as unknown as { captureStackTrace?: (target: object) => void; prepareStackTrace?: PrepareStackTrace };
  if (typeof errorClass.captureStackTrace !== 'function') return undefined;
  const previous = errorClass.prepareStackTrace;
  const holder: { stack?: unknown } = {};
  try {
    errorClass.prepareStackTrace = (_, sites) => sites;
    errorClass.captureStackTrace(holder);
    // read while the override is in place: V8 formats the stack on its first read
    return Array.isArray(holder.stack) ? (holder.stack as V8CallSite[]) : undefined;
  } finally {
    errorClass.prepareStackTrace = previous;
  }
}

/** The frame's position in the source a user wrote, mapped once per generated position. */
function originalPosition(site: V8CallSite): { readonly file: string; readonly line: number } | null | typeof UNMAPPED {
  const file = site.getFileName();
  const line = site.getLineNumber();
  if (!file || line === null) return null;
  const column = site.getColumnNumber() ?? 1;
  const key = `${file}:${line}:${column}`;
  let position = mapped.get(key);
  if (position === undefined) {
    position = mapPosition({ file, line, column });
    mapped.set(key, position);
  }
  return position;
}

interface NodeSourceMap {
  findEntry(line: number, column: number): { originalSource?: string; originalLine?: number } | Record<string, never>;
}

/**
 * The position in the source a user wrote: through the source map Node keeps for the file (tsx,
 * --enable-source-maps and bundles with maps give it one), or the position itself for plain
 * JavaScript. UNMAPPED for a TypeScript file Node holds no map of: a loader that Node does not know
 * of (vitest's) rewrote it, and maps the formatted stack itself.
 */
function mapPosition(site: CallSitePosition): { readonly file: string; readonly line: number } | typeof UNMAPPED {
  try {
    const map = nodeModuleApi()?.findSourceMap(site.file) as NodeSourceMap | undefined;
    if (map) {
      const entry = map.findEntry(site.line - 1, site.column - 1);
      if ('originalSource' in entry && entry.originalSource && entry.originalLine !== undefined) return { file: entry.originalSource, line: entry.originalLine + 1 };
      return { file: site.file, line: site.line };
    }
  } catch {
    // an engine whose node:module lacks working source maps: the formatted stack instead
    return UNMAPPED;
  }
  // `model.ts?t=123` (a dev server's URL) is TypeScript too
  if (/\.[cm]?tsx?$/.test(site.file.replace(/[?#].*$/, ''))) return UNMAPPED;
  return { file: site.file, line: site.line };
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

/** A frame's file as a path, relative to the working directory when it is inside it. */
function relativeToCwd(file: string): string {
  const path = pathOf(file);
  const cwd = typeof process !== 'undefined' && typeof process.cwd === 'function' ? process.cwd() : '';
  return cwd && path.startsWith(cwd + '/') ? path.slice(cwd.length + 1) : path;
}

/** `file:///tmp/my%20model.ts` as `/tmp/my model.ts` (Node's own URL decoding where there is one). */
function pathOf(file: string): string {
  if (!file.startsWith('file://')) return file;
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (name: string) => unknown } }).process;
    const url = proc?.getBuiltinModule?.('node:url') as { fileURLToPath?: (url: string) => string } | undefined;
    if (url?.fileURLToPath) return url.fileURLToPath(file);
    return decodeURIComponent(file.slice('file://'.length));
  } catch {
    return file.slice('file://'.length);
  }
}

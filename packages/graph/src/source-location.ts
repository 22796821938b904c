/** Frames from these folders are Loom's own machinery, not the model code a user wants to see. */
const INTERNAL = [/[\\/]packages[\\/]graph[\\/]src[\\/]/, /node_modules/, /node:internal/, /^internal\//];

/**
 * The `file:line` of the first caller outside the graph package: the model code that created a node.
 * Works in Node and browsers that expose V8-style stacks; returns undefined elsewhere.
 */
export function captureSource(): string | undefined {
  const stack = new Error().stack;
  if (!stack) return undefined;
  for (const line of stack.split('\n').slice(1)) {
    const match = /\(?((?:file:\/\/)?[^()\s]+?):(\d+):\d+\)?\s*$/.exec(line.trim());
    if (!match) continue;
    const file = match[1]!.replace(/^file:\/\//, '');
    if (INTERNAL.some((re) => re.test(file))) continue;
    return `${relativeToCwd(file)}:${match[2]}`;
  }
  return undefined;
}

function relativeToCwd(file: string): string {
  const cwd = typeof process !== 'undefined' && typeof process.cwd === 'function' ? process.cwd() : '';
  return cwd && file.startsWith(cwd + '/') ? file.slice(cwd.length + 1) : file;
}

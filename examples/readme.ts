/** The README's sections and code blocks, for the tests that run README's commands as written. */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const README = new URL('../README.md', import.meta.url);

/** The text of the `## title` section (up to the next `## ` heading). */
export function readmeSection(title: string): string {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no section '## ${title}'`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

/** The fenced code blocks of `language` in `markdown`, in order, without their fences. */
export function codeBlocks(markdown: string, language: string): string[] {
  const blocks: string[] = [];
  const fence = new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, 'gm');
  for (const m of markdown.matchAll(fence)) blocks.push(m[1]!);
  return blocks;
}

/** The first TypeScript block of README's `## title` section, and the example file it must equal. */
export function readmeExample(title: string, file: URL): { block: string | undefined; file: string } {
  return { block: codeBlocks(readmeSection(title), 'ts')[0], file: readFileSync(file, 'utf8') };
}

/** Runs an example as a user would (`npx tsx file`); its standard output. */
export function runExample(file: URL): string {
  return execFileSync('npx', ['tsx', file.pathname], { encoding: 'utf8', timeout: 120_000 });
}

/** The README's sections and code blocks, for the tests that run README's commands as written. */
import { readFileSync } from 'node:fs';

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

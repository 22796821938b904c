/**
 * Builds the four packages to ESM JavaScript with declarations (`tsc -b`, each package's
 * tsconfig.build.json into its dist/) and packs each with `pnpm pack` (which applies publishConfig:
 * exports to dist, workspace:* to the version) into one folder, printing the tarballs' paths.
 *   npx tsx scripts/pack-packages.ts [OUT_DIR]   (default: dist-packages/)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGES = ['graph', 'compiler', 'backends', 'models'] as const;

const root = fileURLToPath(new URL('..', import.meta.url));

/** Builds and packs; returns the tarball paths in dependency order. */
export function packPackages(outDir: string): string[] {
  execFileSync('npx', ['tsc', '-b', 'packages/models/tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  mkdirSync(outDir, { recursive: true });
  const tarballs: string[] = [];
  for (const name of PACKAGES) {
    const before = new Set(readdirSync(outDir));
    execFileSync('pnpm', ['pack', '--pack-destination', outDir], { cwd: join(root, 'packages', name), stdio: ['ignore', 'ignore', 'inherit'] });
    const made = readdirSync(outDir).filter((f) => f.endsWith('.tgz') && f.includes(`loom-${name}-`));
    const file = made.find((f) => !before.has(f)) ?? made[0];
    if (!file) throw new Error(`pnpm pack made no tarball for @loom/${name}`);
    tarballs.push(join(outDir, file));
  }
  return tarballs;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const tarball of packPackages(resolve(process.argv[2] ?? join(root, 'dist-packages')))) console.log(tarball);
}

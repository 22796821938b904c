/**
 * Packs what the real-GPU script needs on a machine with an NVIDIA GPU but no Node and no package
 * registry, into one folder (default `.webgpu-carry/` at the repository root; ignore it in
 * .git/info/exclude):
 *   loom-webgpu.tar.xz  node (this machine's binary), real-gpu.mjs (bundled) and node_modules with
 *                       `webgpu` (linux-x64 Dawn only), @webgpu/types, debug, ms
 *   libvulkan1_*.deb    the Vulkan loader (amd64), unpacked there only if the machine lacks one
 *   run.sh              unpacks and runs: `sh .webgpu-carry/run.sh [--small]`
 *   npx tsx examples/webgpu-real-gpu/pack.ts [OUT_DIR]
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleRealGpuScript } from './build.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = process.argv[2] ?? join(root, '.webgpu-carry');
mkdirSync(out, { recursive: true });
const stage = mkdtempSync(join(tmpdir(), 'loom-webgpu-pack-'));

// the script, bundled
await bundleRealGpuScript(join(stage, 'real-gpu.mjs'));

// node_modules: webgpu with only the linux-x64 addon, and its small dependencies
const webgpu = realpathSync(join(root, 'packages/backends/node_modules/webgpu'));
const modules = join(stage, 'node_modules');
for (const file of ['index.js', 'package.json', 'LICENSE.md', 'types.d.ts']) cpSync(join(webgpu, file), join(modules, 'webgpu', file));
cpSync(join(webgpu, 'dist', 'linux-x64'), join(modules, 'webgpu', 'dist', 'linux-x64'), { recursive: true });
const store = dirname(dirname(webgpu)); // node_modules/.pnpm
for (const [name, dir] of [['@webgpu/types', '@webgpu+types@'], ['debug', 'debug@'], ['ms', 'ms@']] as const) {
  const version = readdirSync(store).find((d) => d.startsWith(dir));
  if (version) cpSync(join(store, version, 'node_modules', name), join(modules, name), { recursive: true, dereference: true });
}

// node itself
cpSync(process.execPath, join(stage, 'node'));
execFileSync('tar', ['-cJf', join(out, 'loom-webgpu.tar.xz'), '-C', stage, '.'], { env: { ...process.env, XZ_OPT: '-6 -T0' } });
rmSync(stage, { recursive: true, force: true });

// the Vulkan loader as a .deb for amd64
if (!readdirSync(out).some((f) => f.startsWith('libvulkan1_'))) {
  const lists = mkdtempSync(join(tmpdir(), 'loom-apt-'));
  mkdirSync(join(lists, 'partial'));
  const apt = ['-oAPT::Architecture=amd64', '-oAPT::Architectures=amd64', `-oDir::State::Lists=${lists}`];
  try {
    execFileSync('apt-get', [...apt, 'update', '-qq'], { stdio: 'ignore' });
    execFileSync('apt-get', [...apt, 'download', 'libvulkan1'], { cwd: out, stdio: 'ignore' });
  } catch {
    console.warn('could not download libvulkan1 with apt-get; put libvulkan1_*_amd64.deb in the folder by hand if the GPU machine lacks libvulkan.so.1');
  }
  rmSync(lists, { recursive: true, force: true });
}

writeFileSync(
  join(out, 'run.sh'),
  `#!/bin/sh
# Runs Loom's WebGPU real-GPU check on this machine: sh run.sh [--small]
set -e
here=$(cd "$(dirname "$0")" && pwd)
if ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
  for f in "$here"/libvulkan1_*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
dir=$(mktemp -d /tmp/loom-webgpu-XXXXXX)
tar -xJf "$here/loom-webgpu.tar.xz" -C "$dir"
export VK_DRIVER_FILES="\${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
export XDG_RUNTIME_DIR="\${XDG_RUNTIME_DIR:-$dir/xdg}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
exec "$dir/node" "$dir/real-gpu.mjs" "$@"
`,
);
chmodSync(join(out, 'run.sh'), 0o755);
const size = execFileSync('du', ['-sh', out]).toString().split('\t')[0];
console.log(`packed ${out} (${size}): ${readdirSync(out).join(', ')}`);
if (!existsSync(join(out, 'run.sh'))) process.exitCode = 1;

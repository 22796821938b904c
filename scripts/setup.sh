#!/usr/bin/env bash
# Makes a fresh checkout ready to build and test:
#   1. pnpm at the version pinned in package.json ("packageManager"), installed with npm if missing;
#   2. the workspace's dependencies, exactly as locked (pnpm install --frozen-lockfile);
#   3. as root on Debian/Ubuntu, the system packages for the WebGPU tests (scripts/setup-gpu-env.sh).
#      Set LOOM_SETUP_GPU_ENV=0 to skip that step, or =1 to require it even when not root;
#   4. the pinned Node.js as the scripts' `node`, and headless-gl's binding built for it (scripts/setup-node.sh,
#      which also runs as the root package's postinstall: after every `pnpm install` or `pnpm add`).
# The scripts (`pnpm loom`, `pnpm test:all`, ...) run on the Node.js 24 that the root devDependency
# `node` pins (its binary comes from the npm registry), whatever the machine's own Node.js is.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION="$(node -p 'require("./package.json").packageManager.replace(/^pnpm@/, "")')"

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm@$PNPM_VERSION with npm"
  npm install --global --no-fund --no-audit --loglevel=error "pnpm@$PNPM_VERSION"
  hash -r
  if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
    echo "setup: pnpm $PNPM_VERSION is installed but \`pnpm\` on PATH is $(command -v pnpm || echo missing) ($(pnpm --version 2>/dev/null || echo none)); put $(npm prefix --global)/bin first on PATH" >&2
    exit 1
  fi
fi

# confirmModulesPurge=false: never stop to ask before rebuilding node_modules (there is no one to answer in CI).
pnpm install --frozen-lockfile --config.confirmModulesPurge=false

case "${LOOM_SETUP_GPU_ENV:-auto}" in
  0) ;;
  1) bash scripts/setup-gpu-env.sh ;;
  *)
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      bash scripts/setup-gpu-env.sh
    else
      echo "setup: skipped the WebGPU system packages (needs root and apt); see scripts/setup-gpu-env.sh"
    fi
    ;;
esac

bash scripts/setup-node.sh

#!/usr/bin/env bash
# Makes the Node.js that the root devDependency `node` pins (24, from the npm registry) the one every
# script runs on, whatever the machine's own:
#   1. node_modules/.bin/node becomes a link to its binary: pnpm's shim for it runs the binary as a
#      child of a shell, so a signal sent to `node` (Ctrl-C, a test stopping `loom inspect`) would
#      stop the shell and leave Node running;
#   2. headless-gl's binding (the one native module built at install; the others use Node-API and load
#      on any Node.js) is rebuilt when it was built against another Node.js (npm's `nodedir` may point
#      at the machine's own), with headers from the npm registry's package of the same Node binary.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x node_modules/node/bin/node ] || { echo "setup: node_modules/node/bin/node is missing: did \`pnpm install\` run the node package's preinstall?" >&2; exit 1; }
ln -sfn ../node/bin/node node_modules/.bin/node

loads_gl() { (cd packages/backends && pnpm exec node -e 'require("gl")') >/dev/null 2>&1; }

gl_dir="$(ls -d node_modules/.pnpm/gl@*/node_modules/gl 2>/dev/null | head -1 || true)"
if [ -z "$gl_dir" ]; then
  echo "setup: headless-gl (optional) is not installed; the WebGL backend will say so when asked for"
  exit 0
fi
if loads_gl; then exit 0; fi

version="$(pnpm exec node -p 'process.versions.node')"
platform_package="$(pnpm exec node -p '`node-${process.platform === "win32" ? "win" : process.platform}-${process.arch}`')"
headers="$(mktemp -d)"
trap 'rm -rf "$headers"' EXIT
echo "setup: rebuilding headless-gl for Node.js $version (headers from $platform_package@$version)"
npm install --prefix "$headers" --no-save --no-package-lock --ignore-scripts --loglevel=error "$platform_package@$version"
nodedir="$headers/node_modules/$platform_package"
[ -f "$nodedir/include/node/node.h" ] || { echo "setup: $platform_package@$version has no include/node/node.h" >&2; exit 1; }
# npm's own node-gyp, run by the pinned Node (pnpm rebuild keeps a binding it has cached for the package).
node_gyp="$(npm root --global)/npm/node_modules/node-gyp/bin/node-gyp.js"
build_log="$headers/build.log"
if ! (cd "$gl_dir" && PATH="$OLDPWD/node_modules/.bin:$PATH" node "$node_gyp" rebuild --nodedir="$nodedir" --loglevel=warn) >"$build_log" 2>&1; then
  tail -40 "$build_log" >&2
  # headless-gl is optional: the WebGL backend says it is unavailable (and CI's LOOM_REQUIRE_BACKENDS fails the tests)
  echo "setup: building headless-gl for Node.js $version failed (the end of its log is above); the WebGL backend will be unavailable in Node" >&2
  exit 0
fi
loads_gl || echo "setup: headless-gl still does not load on Node.js $version after the rebuild; the WebGL backend will be unavailable in Node" >&2

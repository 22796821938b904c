#!/usr/bin/env bash
# Installs the Debian packages the WebGPU and WebGL tests need, once:
#   chromium         ships the SwiftShader Vulkan driver, /usr/lib/chromium/vk_swiftshader_icd.json
#                    (Debian 12's own lavapipe is too old for Dawn), and is the browser for in-page tests;
#   libvulkan1       the Vulkan loader that the npm `webgpu` package (Dawn) opens;
#   xvfb             an X display for headless-gl (the WebGL backend in Node starts one when DISPLAY is unset);
#   libgl1-mesa-dri  Mesa's software GL (llvmpipe), which headless-gl's ANGLE draws with under Xvfb.
# Idempotent: does nothing, and prints nothing, when they are already installed. While another apt
# or dpkg holds the package lock it waits (bounded: scripts/apt-lock-wait.sh).
# Needs root (or passwordless sudo) and apt; elsewhere it says what to install and fails.
set -euo pipefail

PACKAGES=(chromium libvulkan1 xvfb libgl1-mesa-dri)
ICD=/usr/lib/chromium/vk_swiftshader_icd.json

missing=()
for pkg in "${PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" != installed ]; then missing+=("$pkg"); fi
done
if [ ${#missing[@]} -eq 0 ] && [ -f "$ICD" ]; then exit 0; fi
if [ ${#missing[@]} -eq 0 ]; then missing=(chromium); fi # installed but the driver file is gone: reinstall

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-gpu-env: no apt-get here; install ${missing[*]} (or another Vulkan driver Dawn accepts) by hand" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "setup-gpu-env: needs root to run: apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "setup-gpu-env: installing ${missing[*]} with apt-get"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
# shellcheck source=scripts/apt-lock-wait.sh
source "$(dirname "$0")/apt-lock-wait.sh"
if ! { apt_waiting_for_lock "$log" "${as_root[@]}" apt-get update -q && apt_waiting_for_lock "$log" "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; }; then
  cat "$log" >&2
  echo "setup-gpu-env: apt-get failed (output above)" >&2
  exit 1
fi
if [ ! -f "$ICD" ]; then
  echo "setup-gpu-env: chromium is installed but $ICD is missing" >&2
  exit 1
fi

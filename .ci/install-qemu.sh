#!/usr/bin/env bash
# Install what the QEMU end-to-end tests and the firmware rebuild need (Debian
# packages only: machines.md section 4) when missing, then check that the
# committed demo firmware and boot stub are what their sources build to.
#
# Usage: .ci/install-qemu.sh            (run from anywhere; needs root for apt-get)
# Exit status: non-zero when an install fails or the committed binaries differ
# from a rebuild.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
need=()
for pkg in qemu-system-misc gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf; do
  installed "$pkg" || need+=("$pkg")
done

if ((${#need[@]} > 0)); then
  echo "== installing ${need[*]}"
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-qemu: need root (or sudo) for apt-get" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update
  "${sudo[@]}" apt-get install -y --no-install-recommends "${need[@]}"
else
  echo "== qemu-system-riscv64 and the riscv64 toolchain are installed"
fi

qemu-system-riscv64 --version | head -1
riscv64-unknown-elf-gcc --version | head -1

echo "== make -C examples/firmware/rv64-virt check-reproducible"
make -C examples/firmware/rv64-virt check-reproducible
echo "== committed amp-demo.elf, boot-stub.bin and agent.bin match a rebuild"

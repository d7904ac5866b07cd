#!/usr/bin/env bash
# Installs what Sono needs to build and test, from Debian packages. Called by
# the README's commands and by .ci/run. Idempotent: a second run is quick.
#   tools/setup.sh            build dependencies
#   tools/setup.sh --ref      also the PyTorch reference environment (tools/setup_reference.sh)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

packages=(
  build-essential cmake pkg-config
  doctest-dev libstb-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev
  libopenblas-openmp-dev zlib1g-dev clang-format
  libonnx-dev libprotobuf-dev protobuf-compiler
  openmpi-bin libopenmpi-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--ref" ]; then
  "$here/setup_reference.sh"
fi

#!/usr/bin/env bash
# Configures the CUDA backend (sm_90 by default) and compiles every target:
# library, tests, benchmarks, CLI. Runs nothing: CI has no GPU. The binaries
# are what tools/gpu/stage.sh packs for the GPU machine (docs/gpu-run.md).
#   tools/build_cuda.sh [build-dir]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$repo/build-cuda}"
"$repo/tools/setup.sh"
cmake -S "$repo" -B "$build" -DSONO_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${SONO_CUDA_ARCH:-90}" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "${SONO_JOBS:-$(nproc)}"
echo "build_cuda: all CUDA targets compiled in $build"

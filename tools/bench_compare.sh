#!/usr/bin/env bash
# Sono vs PyTorch on this machine, in one run (tools/bench_compare.py; the
# columns and the floor model are described in docs/benchmarks.md):
#
#   tools/bench_compare.sh                      CPU: B4, 256x256, batch 2, 2 threads
#   tools/bench_compare.sh --rounds 2           more alternation rounds (busy machine)
#   tools/bench_compare.sh --only 'cpu model'   a subset (regex over "<device> <workload>")
#   tools/bench_compare.sh --contention --only 'cpu model train'
#                                               also beside a one-core background load: slowdown factors
#   tools/bench_compare.sh --help               every option
#
# Builds sono_bench (Release) in $SONO_BENCH_BUILD (default build-bench; CUDA
# is compiled in only when nvidia-smi sees a GPU), then runs the comparison
# with the reference venv's python ($SONO_REF_VENV, default .venv-ref, made by
# tools/setup_reference.sh). Without that venv (e.g. on a GPU machine with no
# PyTorch) it falls back to python3 and times Sono alone.
# Results: bench/results/<machine>-<date>.{json,md}.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SONO_BENCH_BUILD:-$repo/build-bench}"
[[ "$build" = /* ]] || build="$repo/$build"
venv="${SONO_REF_VENV:-$repo/.venv-ref}"

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cuda=OFF
  if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then cuda=AUTO; fi
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSONO_CUDA="$cuda" -DSONO_BUILD_TESTS=OFF >/dev/null
fi
jobs="${SONO_BUILD_JOBS:-2}"
make -C "$build" -j"$jobs" sono_bench >/dev/null

python="$venv/bin/python"
if [[ ! -x "$python" ]]; then
  echo "bench_compare: no reference venv at $venv (tools/setup_reference.sh makes it); using python3" >&2
  python=python3
fi
exec "$python" "$repo/tools/bench_compare.py" --sono-bench "$build/bench/sono_bench" "$@"

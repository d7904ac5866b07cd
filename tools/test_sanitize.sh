#!/usr/bin/env bash
# CI's sanitizer job: builds the I/O and data test programs (test_io,
# test_data) and the fuzz-corpus replay (test_fuzz) with AddressSanitizer +
# UndefinedBehaviorSanitizer (-DSONO_SANITIZE=ON, a separate build folder)
# and runs them. Any sanitizer report fails it, also one in a test that
# otherwise passed or skipped.
#   tools/test_sanitize.sh [ctest args...]
# Environment: SONO_SANITIZE_BUILD_DIR (default build-sanitize), SONO_JOBS (default: cores).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SONO_SANITIZE_BUILD_DIR:-$repo/build-sanitize}"
jobs="${SONO_JOBS:-$(nproc)}"
start=$(date +%s)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

# -O1 -g: quick to compile, usable stack traces.
cmake -S "$repo" -B "$build" -DSONO_CUDA=OFF -DSONO_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O1 \
  -DSONO_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" -j "$jobs" --target test_io test_data test_fuzz

if [ -z "${SONO_USMINI:-}" ] && [ -d "$repo/../shared/data/usmini" ]; then
  export SONO_USMINI="$(cd "$repo/../shared/data/usmini" && pwd)"
fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$build"
status=0
ctest --output-on-failure -j "$jobs" -R '^(io|data|fuzz):' "$@" || status=$?
log=Testing/Temporary/LastTest.log
if grep -aE 'runtime error:|(Address|Leak|UndefinedBehavior)Sanitizer' "$log"; then
  echo "tools/test_sanitize.sh: sanitizer report(s) above (full log: $build/$log)" >&2
  status=1
fi
echo "tools/test_sanitize.sh: done in $(( $(date +%s) - start )) s"
exit "$status"

#!/usr/bin/env bash
# CI's sanitizer job: builds the I/O and data test programs (test_io,
# test_data) and the fuzz-corpus replay (test_fuzz) with AddressSanitizer +
# UndefinedBehaviorSanitizer (-DSONO_SANITIZE=ON, a separate build folder)
# and runs them. Any sanitizer report fails it, also one in a test that
# otherwise passed or skipped. Then the thread pool's test (tests/core/
# test_parallel.cpp with core/parallel.cpp) under ThreadSanitizer: the one
# place where Sono's threads share state without a lock.
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

# ThreadSanitizer cannot share a build with ASan; the pool is two files.
tsan="$build/tsan"
mkdir -p "$tsan"
printf '#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN\n#include <doctest/doctest.h>\n' >"$tsan/main.cpp"
"${CXX:-c++}" -std=c++17 -O1 -g -fsanitize=thread -I"$repo" "$tsan/main.cpp" "$repo/core/parallel.cpp" \
  "$repo/tests/core/test_parallel.cpp" -o "$tsan/test_parallel" -lpthread
if ! TSAN_OPTIONS="halt_on_error=1:exitcode=66" "$tsan/test_parallel" >"$tsan/log.txt" 2>&1 ||
  grep -q "ThreadSanitizer" "$tsan/log.txt"; then
  cat "$tsan/log.txt" >&2
  echo "tools/test_sanitize.sh: the thread pool's test failed under ThreadSanitizer (log: $tsan/log.txt)" >&2
  status=1
else
  echo "tools/test_sanitize.sh: thread pool under ThreadSanitizer: $(grep -a 'test cases:' "$tsan/log.txt")"
fi
echo "tools/test_sanitize.sh: done in $(( $(date +%s) - start )) s"
exit "$status"

#!/usr/bin/env bash
# Sets up, builds (CPU backend) and runs every test. The README's test command.
#   tools/test.sh [ctest args...]
# Environment: SONO_BUILD_DIR (default build), SONO_JOBS (default: cores).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SONO_BUILD_DIR:-$repo/build}"
jobs="${SONO_JOBS:-$(nproc)}"

"$repo/tools/setup.sh" --ref
cmake -S "$repo" -B "$build" -DSONO_CUDA=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$jobs"

# Fixtures produced by the PyTorch reference for the parity tests; the tests
# find them through SONO_REF_FIXTURES (they are generated, never committed).
export SONO_REF_FIXTURES="${SONO_REF_FIXTURES:-$build/ref_fixtures}"
"$repo/tools/reference/make_fixtures.sh" "$SONO_REF_FIXTURES"
# The reference venv that setup.sh --ref made, for the tests that run torch
# (tools/test_bench_compare.py).
if [ -z "${SONO_REF_VENV:-}" ] && [ -x "$repo/.venv-ref/bin/python" ]; then
  export SONO_REF_VENV="$repo/.venv-ref"
fi
# Here every fixture must exist: a parity test that would skip fails instead,
# naming the missing file (tests/support/skip.h).
export SONO_REQUIRE_FIXTURES=1

# The real ultrasound sample next to the checkout, when present (never copied
# into the repository): the data tests then parse and decode all of it.
if [ -z "${SONO_USMINI:-}" ] && [ -d "$repo/../shared/data/usmini" ]; then
  export SONO_USMINI="$(cd "$repo/../shared/data/usmini" && pwd)"
fi

cd "$build"
# ctest runs one test process per core; one thread each (OMP_NUM_THREADS, which
# Sono's thread pool reads, core/parallel.h) keeps them from oversubscribing
# the cores (tests that exercise threading set their own count).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
status=0
ctest --output-on-failure -j "$jobs" "$@" || status=$?
# ctest lists the skipped tests but not why, and counts them in its "100%
# passed"; their output (in ctest's log) has the reason.
log=Testing/Temporary/LastTest.log
if [ -f "$log" ]; then
  skipped=$(grep -ac '^\[sono\] .* skipped' "$log" || true)
  if [ "${skipped:-0}" -gt 0 ]; then
    echo "$skipped tests skipped; reasons (count, reason):"
    grep -ao 'MESSAGE: skipped: .*' "$log" | sed 's/^MESSAGE: skipped: //' | sort | uniq -c
  fi
fi
# Users train on every core: the parity, model and end-to-end verdicts must
# not depend on the thread count, so without a test selection those run again
# with two and with three threads per process (half / a third as many
# processes; ~2 min each on 2 cores, the end-to-end training run most of it;
# three threads on two cores also exercises a thread that waits for a core),
# after the skip report above, which reads the first pass's log.
if [ $# -eq 0 ]; then
  for threads in 2 3; do
    echo "== parity, model and end-to-end tests again with OMP_NUM_THREADS=$threads"
    env OMP_NUM_THREADS="$threads" ctest --output-on-failure -j "$(( jobs > threads ? jobs / threads : 1 ))" \
      -R '^model:|^ops:.*bit-identical|^train:phantom, train, predict and evaluate|^train:bf16 vs fp32' || status=$?
  done
fi
exit "$status"

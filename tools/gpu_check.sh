#!/usr/bin/env bash
# The GPU acceptance run, for a machine with an NVIDIA GPU. It uses the
# binaries of a CUDA build made elsewhere (tools/build_cuda.sh) and compiles
# only when they are missing. Steps, each under a time limit so the whole run
# fits in 8 minutes on an H100:
#   1. nvidia-smi (card, driver)
#   2. the CUDA test cases (-tc='*cuda*') of every test program in the build
#      (test_core, test_ops, and any other tests/test_* present)
#   3. compute-sanitizer memcheck over the CUDA op tests
#   4. the CUDA benchmarks of sono_bench, if built (short min_time)
# and writes summary.md (a table) and summary.json into the output directory.
# Exit status: 0 when every step that ran passed, 1 otherwise (a failed or
# timed-out test program, a CUDA test that skipped although a GPU is present,
# a sanitizer error). A missing compute-sanitizer or sono_bench is reported,
# not failed.
#
#   tools/gpu_check.sh [build-dir] [out-dir]
# build-dir defaults to build-cuda (relative to the repository root), out-dir
# to $OUT, else <build-dir>/gpu_check.
# Environment: SONO_GPU_CHECK_BUDGET (seconds, default 480),
#   SONO_SANITIZE_FILTER (doctest -tc filter for the memcheck run, default *cuda*).
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build-cuda}"
[[ "$build" = /* ]] || build="$repo/$build"
out="${2:-${OUT:-$build/gpu_check}}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
budget="${SONO_GPU_CHECK_BUDGET:-480}"
sanitize_filter="${SONO_SANITIZE_FILTER:-*cuda*}"
start=$(date +%s)

log() { echo "gpu_check: $*"; }
remaining() { echo $((budget - ($(date +%s) - start))); }
# Seconds for a step: its own cap, but never past the overall budget (keeping
# `reserve` seconds for the steps after it).
step_limit() {
  local cap=$1 reserve=$2 left
  left=$(($(remaining) - reserve))
  ((left < cap)) && cap=$left
  ((cap < 1)) && cap=1
  echo "$cap"
}
json_escape() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr -d '\n\r'; }

# ---- 0. binaries ---------------------------------------------------------------
if [[ ! -x "$build/tests/test_ops" ]]; then
  log "no test binaries in $build: building (tools/build_cuda.sh)"
  "$repo/tools/build_cuda.sh" "$build" || { log "build failed"; exit 1; }
fi

# ---- 1. the card ---------------------------------------------------------------
card="unknown"
driver="unknown"
gpu_present=0
if command -v nvidia-smi >/dev/null; then
  nvidia-smi | tee "$out/nvidia-smi.txt"
  query="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n1)"
  if [[ -n "$query" ]]; then
    card="${query%%,*}"
    driver="${query##*, }"
    gpu_present=1
  fi
else
  log "nvidia-smi not found"
fi
date_utc="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
log "card: $card, driver: $driver, date: $date_utc, commit: $commit"

# One row per step: name|status|passed|failed|skipped|seconds|note
rows=()
failed=0

# Runs a doctest program with a filter under a time limit; appends a row.
# A CUDA case printing "skipped: no CUDA device" while a GPU is present fails.
run_tests() {
  local name=$1 limit=$2 logfile=$3
  shift 3
  local t0 rc line passed="" failed_n="" skipped="" status note=""
  t0=$(date +%s)
  (cd "$build" && timeout --kill-after=10 "$limit" "$@") >"$logfile" 2>&1
  rc=$?
  line="$(grep -a '\[doctest\] test cases:' "$logfile" | tail -n1)"
  if [[ -n "$line" ]]; then
    passed="$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$line")"
    failed_n="$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line")"
    skipped="$(grep -ac 'skipped: no CUDA device' "$logfile")"
  fi
  if ((rc == 124 || rc == 137)); then
    status="TIMEOUT"
    note="killed after ${limit}s"
  elif ((rc != 0)); then
    status="FAIL"
    note="exit code $rc"
  elif ((gpu_present && ${skipped:-0} > 0)); then
    status="FAIL"
    note="CUDA cases skipped although a GPU is present"
  else
    status="PASS"
  fi
  [[ "$status" == PASS ]] || failed=1
  rows+=("$name|$status|${passed:--}|${failed_n:--}|${skipped:--}|$(($(date +%s) - t0))|$note")
  log "$name: $status ${note}"
  if [[ "$status" != PASS ]]; then tail -n 40 "$logfile"; fi
}

# ---- 2. CUDA test cases of every test program -------------------------------------
for exe in "$build"/tests/test_*; do
  [[ -x "$exe" && -f "$exe" ]] || continue
  name="$(basename "$exe")"
  run_tests "$name" "$(step_limit 180 150)" "$out/$name.log" "$exe" -tc='*cuda*'
done

# ---- 3. compute-sanitizer memcheck over the op tests ---------------------------------
sanitizer="$(command -v compute-sanitizer || true)"
for candidate in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda-*/bin/compute-sanitizer; do
  [[ -z "$sanitizer" && -x "$candidate" ]] && sanitizer="$candidate"
done
if [[ -z "$sanitizer" ]]; then
  rows+=("memcheck test_ops|MISSING|-|-|-|0|compute-sanitizer not found")
  log "compute-sanitizer not found: memcheck not run"
elif [[ ! -x "$build/tests/test_ops" ]]; then
  rows+=("memcheck test_ops|FAIL|-|-|-|0|test_ops not built")
  failed=1
else
  run_tests "memcheck test_ops" "$(step_limit 240 45)" "$out/memcheck.log" \
    "$sanitizer" --tool memcheck --error-exitcode 99 --print-limit 50 ./tests/test_ops -tc="$sanitize_filter"
  if grep -aq 'ERROR SUMMARY: [1-9]' "$out/memcheck.log"; then
    last=$((${#rows[@]} - 1))
    rows[$last]="$(sed -E 's/\|PASS\|/|FAIL|/' <<<"${rows[$last]}")"
    failed=1
    log "memcheck reported errors"
  fi
fi

# ---- 4. CUDA benchmarks ---------------------------------------------------------------
bench="$build/bench/sono_bench"
if [[ -x "$bench" ]]; then
  limit="$(step_limit 60 5)"
  t0=$(date +%s)
  (cd "$build" && timeout --kill-after=5 "$limit" "$bench" --benchmark_filter='cuda' --benchmark_min_time=0.05 \
    --benchmark_out="$out/bench.json" --benchmark_out_format=json) >"$out/bench.log" 2>&1
  rc=$?
  if ((rc == 0)); then status=PASS note="$out/bench.json"
  elif ((rc == 124 || rc == 137)); then status=TIMEOUT note="killed after ${limit}s (partial results in bench.log)"
  else status=FAIL note="exit code $rc"
  fi
  # Benchmarks measure, they do not test: a slow or failed run is reported only.
  rows+=("sono_bench cuda|$status|-|-|-|$(($(date +%s) - t0))|$note")
  log "sono_bench: $status"
else
  rows+=("sono_bench cuda|MISSING|-|-|-|0|not built")
fi

# ---- summary ------------------------------------------------------------------------
total=$(($(date +%s) - start))
overall=$([[ $failed == 0 ]] && echo PASS || echo FAIL)
{
  echo "# Sono GPU check: $overall"
  echo
  echo "- card: $card"
  echo "- driver: $driver"
  echo "- date: $date_utc"
  echo "- commit: $commit"
  echo "- build: $build"
  echo "- total: ${total}s"
  echo
  echo "| step | status | passed | failed | skipped (no device) | seconds | note |"
  echo "|---|---|---|---|---|---|---|"
  for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
} >"$out/summary.md"
{
  echo "{"
  echo "  \"overall\": \"$overall\","
  echo "  \"card\": \"$(json_escape "$card")\","
  echo "  \"driver\": \"$(json_escape "$driver")\","
  echo "  \"date\": \"$date_utc\","
  echo "  \"commit\": \"$(json_escape "$commit")\","
  echo "  \"total_seconds\": $total,"
  echo "  \"steps\": ["
  n=${#rows[@]}
  for i in "${!rows[@]}"; do
    IFS='|' read -r s_name s_status s_passed s_failed s_skipped s_seconds s_note <<<"${rows[$i]}"
    num() { [[ "$1" =~ ^[0-9]+$ ]] && echo "$1" || echo null; }
    sep=$([[ $i -lt $((n - 1)) ]] && echo "," || echo "")
    echo "    {\"step\": \"$(json_escape "$s_name")\", \"status\": \"$s_status\", \"passed\": $(num "$s_passed"),"\
         "\"failed\": $(num "$s_failed"), \"skipped_no_device\": $(num "$s_skipped"), \"seconds\": $s_seconds,"\
         "\"note\": \"$(json_escape "$s_note")\"}$sep"
  done
  echo "  ]"
  echo "}"
} >"$out/summary.json"
cat "$out/summary.md"
log "wrote $out/summary.md and $out/summary.json"
[[ $failed == 0 ]]

#!/usr/bin/env bash
# Tests of the GPU run kit that need no GPU (CI runs them after
# tools/gpu/stage.sh and the dry run):
#   1. a dry run killed with SIGKILL in the middle of a step leaves the rows of
#      the steps before it in summary.md and summary.json, and their logs;
#   2. SIGTERM during a step: that step is marked KILLED and the summary is
#      completed;
#   3. a step that never ends is stopped at its cap, the later steps still run
#      and the summary is complete within the deadline;
#   4. a kit missing a bundled library stops the run before any step with exit
#      status 3, naming the library;
#   5. the library resolver finds a library in SONO_CUDA_LIB_DIRS and reports
#      one it cannot find.
#   tools/gpu/test_kit.sh [KIT]      (default gpu-kit/sono-gpu-kit.tar.xz)
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
kit="${1:-$repo/gpu-kit/sono-gpu-kit.tar.xz}"
[[ -f "$kit" ]] || { echo "test_kit: no kit at $kit (tools/gpu/stage.sh BUILD_DIR)"; exit 2; }
tmp="$(mktemp -d "${TMPDIR:-/tmp}/sono-test-kit.XXXXXX")"
export TMPDIR="$tmp"  # run.sh's work folders land here, also those of killed runs
failures=0
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
  for p in "$tmp"/sono-gpu-run.*/step.pid; do [[ -f "$p" ]] && kill -KILL -- "-$(cat "$p")" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "test_kit: ok   $1"; else echo "test_kit: FAIL $1"; failures=$((failures + 1)); fi
}
rows_of() { grep -c '^| [a-z].* | [A-Z]* | ' "$1" 2>/dev/null || true; }
json_ok() {  # json_ok FILE PYTHON-EXPRESSION over `d`
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$1" "$2"
}
wait_for() {  # wait_for SECONDS COMMAND...: polls until COMMAND succeeds
  local end=$(($(date +%s) + $1))
  shift
  until "$@"; do
    (($(date +%s) < end)) || return 1
    sleep 0.5
  done
}
step_started() { grep -q "run: $2 (cap" "$1" 2>/dev/null; }
start_run() {  # start_run NAME HANG ARGS...: a dry run in its own session; sets RUN_PID
  local name=$1 hang=$2
  shift 2
  SONO_GPU_TEST_HANG="$hang" setsid "$repo/tools/gpu/run.sh" --dry-run --kit "$kit" --out "$tmp/$name" "$@" \
    >"$tmp/$name.log" 2>&1 &
  RUN_PID=$!
  pids+=("$RUN_PID")
}

# ---- 1. SIGKILL mid-step ------------------------------------------------------------
start_run kill "cuda tests test_ops" A 200
check "the killed run reached its hanging step" wait_for 120 step_started "$tmp/kill.log" "cuda tests test_ops"
kill -KILL -- "-$RUN_PID"
wait "$RUN_PID" 2>/dev/null
for p in "$tmp"/sono-gpu-run.*/step.pid; do [[ -f "$p" ]] && kill -KILL -- "-$(cat "$p")" 2>/dev/null; done
check "SIGKILL: summary.md keeps the finished row (test_core)" grep -q '^| cuda tests test_core | \(SKIP\|PASS\) |' "$tmp/kill/summary.md"
check "SIGKILL: summary.md has no row for the killed step" bash -c "! grep -q '^| cuda tests test_ops |' '$tmp/kill/summary.md'"
check "SIGKILL: summary.md has no result line" bash -c "! grep -q 'Result:' '$tmp/kill/summary.md'"
check "SIGKILL: summary.json parses, incomplete, with the finished rows only" json_ok "$tmp/kill/summary.json" \
  'not d["complete"] and "cuda tests test_core" in [s["step"] for s in d["steps"]] and
   "cuda tests test_ops" not in [s["step"] for s in d["steps"]] and len(d["steps"]) == '"$(rows_of "$tmp/kill/summary.md")"
check "SIGKILL: logs.tar.gz holds the finished step's log" \
  bash -c "tar -tzf '$tmp/kill/logs.tar.gz' | grep -q 'logs/cuda_tests_test_core.log'"

# ---- 2. SIGTERM mid-step ----------------------------------------------------------------
start_run term "cuda tests test_ops" A 200
wait_for 120 step_started "$tmp/term.log" "cuda tests test_ops"
kill -TERM "$RUN_PID"
wait "$RUN_PID"
rc=$?
check "SIGTERM: exit status 143 (got $rc)" test "$rc" -eq 143
check "SIGTERM: the step in flight is marked KILLED" grep -q '^| cuda tests test_ops | KILLED |' "$tmp/term/summary.md"
check "SIGTERM: the summary is complete, result FAIL" json_ok "$tmp/term/summary.json" \
  'd["complete"] and d["result"] == "FAIL" and d["steps"][-1]["step"] == "cuda tests test_ops" and
   d["steps"][-1]["status"] == "KILLED"'

# ---- 3. a step that never ends, under the deadline ---------------------------------------
t0=$(date +%s)
start_run hang "phantom data (B)" B 110
wait "$RUN_PID"
rc=$? took=$(($(date +%s) - t0))
check "deadline: exit status 1 (got $rc)" test "$rc" -eq 1
check "deadline: the hanging step is a TIMEOUT row" grep -q '^| phantom data (B) | TIMEOUT |' "$tmp/hang/summary.md"
check "deadline: the steps after it ran" grep -q '^| pytorch floors | ' "$tmp/hang/summary.md"
check "deadline: finished within the deadline (${took}s of 110)" test "$took" -le 110
check "deadline: summary complete with every step" json_ok "$tmp/hang/summary.json" \
  'd["complete"] and len(d["steps"]) == 5 and "floors" in d["report"]'

# ---- 4. a library missing from the kit -----------------------------------------------------
mkdir -p "$tmp/broken"
tar -C "$tmp/broken" -xJf "$kit"
victim="$(ls "$tmp/broken/kit/lib" | grep -m1 '^libgfortran\|^libopenblas\|^libgomp' || ls "$tmp/broken/kit/lib" | head -n1)"
rm -f "$tmp/broken/kit/lib/$victim"
XZ_OPT="-0 -T0" tar -C "$tmp/broken" -cJf "$tmp/broken.tar.xz" kit
rm -rf "$tmp/broken"
t0=$(date +%s)
"$repo/tools/gpu/run.sh" --dry-run --kit "$tmp/broken.tar.xz" --out "$tmp/broken-out" >"$tmp/broken.log" 2>&1
rc=$? took=$(($(date +%s) - t0))
check "missing library: exit status 3 (got $rc)" test "$rc" -eq 3
check "missing library: $victim is named" grep -q "$victim" "$tmp/broken.log"
check "missing library: stopped within seconds (${took}s, unpacking included)" test "$took" -le 30
check "missing library: no step ran" bash -c "! test -s '$tmp/broken-out/summary.md'"

# ---- 5. the resolver ----------------------------------------------------------------------------
if command -v cc >/dev/null 2>&1; then
  mkdir -p "$tmp/res/dir" "$tmp/res/kitlib"
  echo 'int sono_fake(void) { return 7; }' >"$tmp/res/fake.c"
  echo 'int sono_fake(void); int main(void) { return sono_fake() == 7 ? 0 : 1; }' >"$tmp/res/main.c"
  cc -shared -fPIC -Wl,-soname,libsono_fake.so.1 -o "$tmp/res/dir/libsono_fake.so.1" "$tmp/res/fake.c"
  cc -o "$tmp/res/prog" "$tmp/res/main.c" "$tmp/res/dir/libsono_fake.so.1"
  # shellcheck source=tools/gpu/cuda_libs.sh
  source "$repo/tools/gpu/cuda_libs.sh"
  SONO_CUDA_LIB_DIRS="$tmp/res/dir" sono_resolve_cuda_libs "$tmp/res/kitlib" "$tmp/res/prog"
  check "resolver: finds a library in SONO_CUDA_LIB_DIRS" test "$SONO_LIB_PATH" = "$tmp/res/kitlib:$tmp/res/dir"
  check "resolver: the program then runs" env LD_LIBRARY_PATH="$SONO_LIB_PATH" "$tmp/res/prog"
  SONO_CUDA_LIB_DIRS="" sono_resolve_cuda_libs "$tmp/res/kitlib" "$tmp/res/prog"
  check "resolver: reports what no folder holds" test "$SONO_LIB_MISSING" = "libsono_fake.so.1"
else
  echo "test_kit: skip resolver tests (no C compiler)"
fi

if ((failures)); then
  echo "test_kit: $failures check(s) failed; logs:"
  for f in "$tmp"/*.log; do echo "== $f"; tail -n 30 "$f"; done
  exit 1
fi
echo "test_kit: all checks passed"

#!/usr/bin/env bash
# The GPU acceptance run, for a machine with an NVIDIA GPU. It uses the
# binaries of a CUDA build made elsewhere (tools/build_cuda.sh) and compiles
# only when they are missing. Steps, each under a time limit so the whole run
# fits in 8 minutes on an H100:
#   1. nvidia-smi (card, driver)
#   2. the CUDA test cases (-tc='*cuda*') of every test program in the build
#      (test_core, test_ops, and any other tests/test_* present)
#   3. compute-sanitizer memcheck over the CUDA op tests, and over a 5-step
#      `sono train --device cuda` run on a phantom dataset (b0, 64x64)
#   4. the CUDA op benchmarks of sono_bench, if built (short min_time)
#   5. throughput: Sono's fp32 training step per task type (B4, batch 20,
#      256x256; sono_bench's model/cuda/train/*) and PyTorch's official fp32
#      eager step (tools/bench_compare.py) where a CUDA PyTorch is importable
# and writes summary.md (a table) and summary.json into the output directory.
# Exit status: 0 when every step that ran passed, 1 otherwise (a failed or
# timed-out test program, a CUDA test that skipped although a GPU is present,
# a sanitizer error). A missing compute-sanitizer, sono or sono_bench is
# reported, not failed; so are the throughput figures (they measure).
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
# Marks the last row FAIL when a compute-sanitizer log reports errors.
fail_on_sanitizer_errors() {
  if grep -aq 'ERROR SUMMARY: [1-9]' "$1"; then
    local last=$((${#rows[@]} - 1))
    rows[$last]="$(sed -E 's/\|PASS\|/|FAIL|/' <<<"${rows[$last]}")"
    failed=1
    log "memcheck reported errors ($1)"
  fi
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
  run_tests "$name" "$(step_limit 180 270)" "$out/$name.log" "$exe" -tc='*cuda*'
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
  run_tests "memcheck test_ops" "$(step_limit 150 200)" "$out/memcheck.log" \
    "$sanitizer" --tool memcheck --error-exitcode 99 --print-limit 50 ./tests/test_ops -tc="$sanitize_filter"
  fail_on_sanitizer_errors "$out/memcheck.log"
fi

# ---- 3b. compute-sanitizer memcheck over a short CUDA training run ---------------------
# The whole training path on the device (loader -> to(cuda) -> forward, task
# losses, backward, fused AdamW, checkpoint) rather than one op at a time.
sono_cli="$build/sono"
if [[ -z "$sanitizer" ]]; then
  rows+=("memcheck sono train|MISSING|-|-|-|0|compute-sanitizer not found")
elif [[ ! -x "$sono_cli" ]]; then
  rows+=("memcheck sono train|MISSING|-|-|-|0|sono not built")
else
  t0=$(date +%s)
  phantom="$out/phantom"
  rm -rf "$phantom" "$out/train_run"
  "$sono_cli" phantom --out "$phantom" --train-images 8 --val-images 2 --min-size 64 --max-size 96 \
    >"$out/phantom.log" 2>&1
  limit="$(step_limit 90 110)"
  (cd "$build" && timeout --kill-after=10 "$limit" "$sanitizer" --tool memcheck --error-exitcode 99 --print-limit 50 \
    "$sono_cli" train --data "$phantom/train" --out "$out/train_run" --device cuda --max-steps 5 \
    --encoder efficientnet-b0 --size 64 --batch 4 --workers 1 --quiet) >"$out/memcheck_train.log" 2>&1
  rc=$?
  note="5 steps, b0, 64x64, batch 4"
  if ((rc == 124 || rc == 137)); then status=TIMEOUT note="killed after ${limit}s"
  elif grep -aq 'ERROR SUMMARY: [1-9]' "$out/memcheck_train.log"; then status=FAIL note="memcheck reported errors"
  elif ((rc != 0)); then status=FAIL note="exit code $rc"
  else status=PASS
  fi
  [[ "$status" == PASS ]] || { failed=1; tail -n 40 "$out/memcheck_train.log"; }
  rows+=("memcheck sono train|$status|-|-|-|$(($(date +%s) - t0))|$note")
  log "memcheck sono train: $status $note"
fi

# ---- 4. CUDA op benchmarks ---------------------------------------------------------------
# Everything with cuda in its name except the whole-model ones (model/...),
# which step 5 times.
bench="$build/bench/sono_bench"
if [[ -x "$bench" ]]; then
  limit="$(step_limit 45 75)"
  t0=$(date +%s)
  (cd "$build" && timeout --kill-after=5 "$limit" "$bench" --benchmark_filter='^[^m].*cuda' --benchmark_min_time=0.05 \
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

# ---- 5. throughput: Sono vs PyTorch, fp32 training step per task type -------------------------
# One row per task type: Sono's images/s; PyTorch's official fp32 eager step
# (tools/bench_compare.py, the reference model of tools/reference/mhmtl.py)
# and the ratio where a CUDA PyTorch with segmentation_models_pytorch is
# importable, else the reason. Reported, never failed.
py="$(command -v python3 || true)"
if [[ -x "$bench" && -n "$py" ]]; then
  t0=$(date +%s)
  limit="$(step_limit 60 5)"
  (cd "$build" && SONO_BENCH_CUDA_BATCH=20 SONO_BENCH_SIZE=256 SONO_BENCH_ENCODER=efficientnet-b4 \
    timeout --kill-after=5 "$limit" "$bench" --benchmark_filter='^model/cuda/train/' --benchmark_min_time=0.2 \
    --benchmark_out="$out/throughput_sono.json" --benchmark_out_format=json) >"$out/throughput_sono.log" 2>&1
  torch_json=""
  torch_reason="PyTorch CUDA unavailable on this machine"
  if timeout 60 "$py" -c 'import torch, segmentation_models_pytorch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
      >"$out/throughput_torch_probe.log" 2>&1; then
    limit="$(step_limit 150 5)"
    if timeout --kill-after=5 "$limit" "$py" "$repo/tools/bench_compare.py" --sono-bench "$bench" --device cuda \
        --only '^cuda model train' --cuda-batch 20 --size 256 --encoder efficientnet-b4 --warmup 2 --repeats 3 \
        --rounds 1 --no-default-threads --out-dir "$out" --name throughput_compare >"$out/throughput_torch.log" 2>&1; then
      torch_json="$out/throughput_compare.json"
    else
      torch_reason="tools/bench_compare.py failed or timed out (throughput_torch.log)"
    fi
  elif ! timeout 30 "$py" -c 'import torch' >/dev/null 2>&1; then
    torch_reason="PyTorch CUDA unavailable on this machine (torch not importable)"
  fi
  # task|sono images/s|pytorch images/s or reason|ratio
  mapfile -t tput < <("$py" - "$out/throughput_sono.json" "$torch_json" "$torch_reason" <<'PY'
import json, sys
sono_path, torch_path, reason = sys.argv[1], sys.argv[2], sys.argv[3]
sono = {}
try:
    for b in json.load(open(sono_path))["benchmarks"]:
        name = b["name"].split("/")  # model/cuda/train/<task>/batch:20[/...]
        if len(name) >= 5 and name[2] == "train" and "images_per_s" in b:
            sono[name[3]] = float(b["images_per_s"])
except Exception:
    pass  # no or partial Sono results: those tasks print n/a
torch = {}
if torch_path:
    try:
        rep = json.load(open(torch_path))
        lists = [v for v in rep.values() if isinstance(v, list)] if isinstance(rep, dict) else [rep]
        for lst in lists:
            for r in lst:
                if not (isinstance(r, dict) and r.get("device") == "cuda" and r.get("kind") == "model"):
                    continue
                parts = r.get("name", "").split()  # "model train <task>"
                eager = r.get("pytorch", {}).get("eager", {})
                if len(parts) == 3 and parts[1] == "train" and eager.get("median_ms"):
                    torch[parts[2]] = r["batch"] / (eager["median_ms"] / 1e3)
                elif len(parts) == 3 and parts[1] == "train":
                    torch[parts[2]] = eager.get("na", reason)
    except Exception as e:
        reason = f"unreadable {torch_path} ({type(e).__name__})"
for task in ["seg", "cls", "det", "reg"]:
    s = sono.get(task)
    t = torch.get(task, reason)
    ratio = f"{s / t:.2f}" if isinstance(t, float) and s else "-"
    t_txt = f"{t:.1f}" if isinstance(t, float) else t
    print(f"{task}|{f'{s:.1f}' if s else 'n/a'}|{t_txt}|{ratio}")
PY
)
  for line in "${tput[@]}"; do
    IFS='|' read -r task s_ips t_ips ratio <<<"$line"
    if [[ "$t_ips" =~ ^[0-9.]+$ ]]; then t_note="PyTorch fp32 eager ${t_ips} images/s, Sono/PyTorch ${ratio}"
    else t_note="${t_ips}"; fi
    rows+=("throughput train $task (B4, batch 20, 256x256)|MEASURED|-|-|-|$(($(date +%s) - t0))|Sono fp32 ${s_ips} images/s; ${t_note//|//}")
    log "throughput $task: Sono ${s_ips} images/s; $t_note"
  done
else
  rows+=("throughput train|MISSING|-|-|-|0|sono_bench or python3 missing")
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

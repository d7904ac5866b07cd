#!/usr/bin/env bash
# The GPU run: Sono's CUDA tests, benchmarks and PyTorch comparison on a GPU
# machine, from the staged kit (tools/gpu/stage.sh) under one deadline.
# The device calls, their time limits and what to do when one fails:
# docs/gpu-run.md.
#
#   tools/gpu/run.sh PART DEADLINE_S [--kit FILE] [--out DIR]
#   tools/gpu/run.sh --dry-run [PART] [DEADLINE_S]      here, with no GPU
#
# PART A: every CUDA test case (the bf16 CUDA-vs-CPU ones included); Sono's
#   B4 training step per task type (batch 20, 256x256) in fp32, tf32 and bf16,
#   its eval forward in tf32 and bf16; PyTorch's official model per task type,
#   training step and forward (eager fp32 with TF32 off and on, bf16 autocast
#   + channels_last); the ratio tables.
# PART B: compute-sanitizer memcheck over the CUDA op tests and over a 5-step
#   training run; the per-op CUDA benchmarks against the floors measured in
#   the same run (device-to-device copy, cuBLAS fp32/tf32/bf16 GEMM).
# PART AB: both, in one call.
# --dry-run: the same run with the GPU hidden (CUDA_VISIBLE_DEVICES=""):
#   unpack, library resolution, every step invoked and reported "skipped: no
#   CUDA device", the summary written and the output limits asserted.
#
# Output ($OUT, else --out, else out/gpu-run-PART): summary.md, summary.json
# and logs.tar.gz (every raw log), nothing else; rewritten after every step.
# Exit status: 0 every step passed or measured; 1 a step failed, timed out or
# was killed; 2 usage or no kit; 3 a library the binaries need was not found
# (listed, within seconds, before any step); 4 (dry run) the output breaks the
# device's limits.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 2; }

# ---- from the tree: unpack the kit, then run its own copy of this script ------
if [[ -z "${SONO_KIT_DIR:-}" ]]; then
  (($# > 0)) || usage
  export SONO_RUN_START=$(date +%s)
  export SONO_TREE="$(cd "$here/../.." && pwd)"
  kit="$SONO_TREE/gpu-kit/sono-gpu-kit.tar.xz"
  args=("$@")
  for i in "${!args[@]}"; do
    [[ "${args[$i]}" == --kit ]] && kit="${args[$((i + 1))]:-}"
    [[ "${args[$i]}" == -h || "${args[$i]}" == --help ]] && usage
  done
  if [[ ! -f "$kit" ]]; then
    echo "run: no kit at $kit: stage one (tools/gpu/stage.sh build-cuda) and carry gpu-kit" >&2
    exit 2
  fi
  work="$(mktemp -d "${TMPDIR:-/tmp}/sono-gpu-run.XXXXXX")"
  if command -v xz >/dev/null 2>&1; then
    tar -C "$work" -xJf "$kit" || { echo "run: cannot unpack $kit" >&2; exit 2; }
  else  # no xz binary on the machine: Python's lzma
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$kit" "$work" ||
      { echo "run: cannot unpack $kit" >&2; exit 2; }
  fi
  export SONO_RUN_WORK="$work" SONO_KIT_DIR="$work/kit" SONO_UNPACK_S=$(($(date +%s) - SONO_RUN_START))
  exec bash "$work/kit/tools/gpu/run.sh" "$@"
fi

# ---- from the kit --------------------------------------------------------------
# shellcheck source=tools/gpu/cuda_libs.sh
source "$here/cuda_libs.sh"
# shellcheck source=tools/gpu/run_lib.sh
source "$here/run_lib.sh"

KIT="$SONO_KIT_DIR"
WORK="$SONO_RUN_WORK"
RUN_START="${SONO_RUN_START:-$(date +%s)}"
DRY=0 PART="" DEADLINE="" OUT_DIR="${OUT:-}"
pos=()
while (($#)); do
  case "$1" in
    --dry-run) DRY=1 ;;
    --kit) shift ;;
    --out) OUT_DIR="${2:-}"; shift ;;
    -h|--help) usage ;;
    *) pos+=("$1") ;;
  esac
  shift
done
PART="${pos[0]:-}"
DEADLINE="${pos[1]:-}"
((DRY)) && PART="${PART:-AB}" && DEADLINE="${DEADLINE:-300}"
[[ "$PART" =~ ^(A|B|AB)$ && "$DEADLINE" =~ ^[0-9]+$ ]] || usage
RUN_END=$((RUN_START + DEADLINE))
[[ -n "$OUT_DIR" ]] || OUT_DIR="$SONO_TREE/out/gpu-run-$PART$([[ $DRY == 1 ]] && echo -dry-run)"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
rm -f "$OUT_DIR/summary.md" "$OUT_DIR/summary.json" "$OUT_DIR/logs.tar.gz"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
cp "$KIT/manifest.txt" "$LOGS/"
((DRY)) && export CUDA_VISIBLE_DEVICES=""  # the dry run never touches a GPU, even where one is
trap on_signal TERM INT HUP
((DRY)) && [[ "${SONO_KEEP_WORK:-0}" != 1 ]] && trap 'rm -rf "$WORK"' EXIT

BIN="$KIT/bin"
NPROC="$(nproc 2>/dev/null || echo 4)"

# ---- libraries: the bundled ones, plus the machine's CUDA runtime ---------------
sono_resolve_cuda_libs "$KIT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$BIN"/*
lib_problems=""
lib_report=""
for exe in "$BIN"/*; do
  while IFS=$'\t' read -r name path; do
    if [[ "$name" == "!" ]]; then lib_problems+="$(basename "$exe"): $path"$'\n'
    elif [[ "$path" == "not found" ]]; then lib_problems+="$(basename "$exe"): $name not found"$'\n'
    elif ! [[ "$name" =~ $SONO_MACHINE_LIBS_RE ]] && [[ "$path" != "$KIT/lib/"* ]]; then
      lib_problems+="$(basename "$exe"): $name taken from $path instead of the kit"$'\n'
    fi
    lib_report+="$(basename "$exe")"$'\t'"$name"$'\t'"$path"$'\n'
  done < <(LD_LIBRARY_PATH="$SONO_LIB_PATH" sono_ldd "$exe")
done
{
  echo "library path: $SONO_LIB_PATH"
  printf '%s' "$SONO_LIB_SOURCES"
  printf '%s' "$lib_report" | column -t -s $'\t' 2>/dev/null || printf '%s' "$lib_report"
} >"$LOGS/libraries.txt"
cuda_lib() {  # where the loader takes a CUDA library from: cuda_lib libcudnn.so
  printf '%s' "$lib_report" | awk -F'\t' -v n="$1" 'index($2, n) == 1 && !done {print $3; done = 1}'
}
if [[ -n "$lib_problems" ]]; then
  echo "run: libraries not found (library path $SONO_LIB_PATH):" >&2
  printf '%s' "$lib_problems" | sort -u | sed 's/^/  /' >&2
  echo "run: searched ldconfig, \$SONO_CUDA_LIB_DIRS, the CUDA toolkit folders and the Python nvidia wheels;" \
    "set SONO_CUDA_LIB_DIRS=dir1:dir2 (docs/gpu-run.md, exit 3)" >&2
  exit 3
fi
# The prefix of every command that runs a kit binary: the kit's libraries are
# on the library path of these processes only (python3 keeps its own libstdc++).
SONO_ENV=(env LD_LIBRARY_PATH="$SONO_LIB_PATH" OMP_NUM_THREADS="$NPROC")

# ---- the machine -----------------------------------------------------------------
# The driver's tools may sit in its own folder rather than on PATH.
[[ -x /usr/local/nvidia/bin/nvidia-smi ]] && ! command -v nvidia-smi >/dev/null 2>&1 && PATH="$PATH:/usr/local/nvidia/bin"
gpu_query() {
  nvidia-smi --query-gpu="$1" --format=csv,noheader 2>/dev/null | head -n1
}
if ((DRY == 0)) && command -v nvidia-smi >/dev/null 2>&1; then
  timeout 20 nvidia-smi >"$LOGS/nvidia-smi.txt" 2>&1
  timeout 20 nvidia-smi -q -d CLOCK,POWER,PERFORMANCE >>"$LOGS/nvidia-smi.txt" 2>&1
  env_set card "$(gpu_query name,memory.total)"
  env_set driver "$(gpu_query driver_version), CUDA $(sed -nE 's/.*CUDA Version: *([0-9.]+).*/\1/p' "$LOGS/nvidia-smi.txt" | head -n1)"
  env_set "clocks at start" "$(gpu_query clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.draw,power.limit,temperature.gpu | sed 's/, / \/ /g') (sm / max sm / mem / max mem / power / limit / temperature)"
else
  env_set card "none$([[ $DRY == 1 ]] && echo ' (dry run: CUDA_VISIBLE_DEVICES is empty)')"
  env_set driver "$(command -v nvidia-smi >/dev/null 2>&1 && gpu_query driver_version || echo 'none (no nvidia-smi)')"
fi
py=""
for candidate in "${SONO_GPU_PYTHON:-}" python3 "${SONO_REF_VENV:-$SONO_TREE/.venv-ref}/bin/python"; do
  [[ -n "$candidate" ]] && command -v "$candidate" >/dev/null 2>&1 || continue
  [[ -z "$py" ]] && py="$candidate"
  if timeout 20 "$candidate" -c 'import importlib.util as u, sys; sys.exit(0 if u.find_spec("torch") else 1)' 2>/dev/null; then
    py="$candidate"
    break
  fi
done
versions="$("${SONO_ENV[@]}" timeout 30 "${py:-python3}" "$KIT/tools/gpu/versions.py" --cudart "$(cuda_lib libcudart.so)" \
  --cublas "$(cuda_lib libcublas.so)" --cudnn "$(cuda_lib libcudnn.so)" 2>&1)"
echo "$versions" >"$LOGS/versions.txt"
env_set "CUDA runtime, cuBLAS, cuDNN" "$(sed -n 's/^libraries: //p' <<<"$versions") (the kit was built against $(sed -n 's/^built_against: //p' "$KIT/manifest.txt"))"
env_set torch "$(sed -n 's/^torch: //p' <<<"$versions") (python: ${py:-none})"
env_set "CUDA libraries from" "$(for n in libcudart.so libcublas.so libcublasLt.so libcudnn.so; do dirname "$(cuda_lib "$n")"; done | sort -u | tr '\n' ' ')"
env_set date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
env_set "kit" "$(sed -n 's/^commit: //p' "$KIT/manifest.txt"), staged $(sed -n 's/^staged: //p' "$KIT/manifest.txt"), nvcc $(sed -n 's/^nvcc: //p' "$KIT/manifest.txt"), needs glibc symbols up to $(sed -n 's/^max_glibc_symbol: //p' "$KIT/manifest.txt"); this machine: glibc $(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}'), $NPROC CPUs"
differ=""
for f in "$KIT"/tools/gpu/*; do
  cmp -s "$f" "$SONO_TREE/tools/gpu/$(basename "$f")" || differ+="$(basename "$f") "
done
[[ -z "$differ" ]] || env_set "warning" "the kit's scripts differ from the tree's ($differ): restage (tools/gpu/stage.sh)"
env_set deadline "${DEADLINE}s for the whole run (unpacking took ${SONO_UNPACK_S:-?}s); reserve ${RUN_RESERVE_S}s for the summary"
sono_help="$("${SONO_ENV[@]}" "$BIN/sono" bench --help 2>&1)"
HAS_PRECISION=0 HAS_BF16=0
grep -q -- '--precision' <<<"$sono_help" && HAS_PRECISION=1
grep -q 'bf16' <<<"$sono_help" && HAS_BF16=1
# sono_bench's model workloads read their precision from SONO_BENCH_PRECISION
# (bench/bench_model.cpp); a build without it would time fp32 under any label.
BENCH_PRECISION=0
grep -aq SONO_BENCH_PRECISION "$BIN/sono_bench" 2>/dev/null && BENCH_PRECISION=1
write_header
write_json false
pack_logs

# ---- classifiers: set STATUS, PASSED, FAILED, SKIPPED, NOTE from rc and the log ------
no_device() { grep -aqE 'no CUDA device|CUDA devices? found|no usable GPU' "$1"; }
last_line() { grep -av '^\s*$' "$1" | tail -n1 | cut -c1-200; }

classify_tests() {  # a doctest program run with -tc='*cuda*'
  local rc=$2 log=$3 line
  line="$(grep -a '\[doctest\] test cases:' "$log" | tail -n1)"
  SKIPPED="$(grep -ac 'skipped: no CUDA device' "$log")"
  if [[ -n "$line" ]]; then
    PASSED="$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$line")"
    FAILED="$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line")"
  fi
  # 77: the test program's "some case skipped, none failed" (tests/support/skip.h).
  if ((rc != 0 && rc != 77)); then STATUS=FAIL NOTE="exit code $rc: $(last_line "$log")"
  elif [[ -z "$line" ]]; then STATUS=FAIL NOTE="no doctest summary in the log"
  elif ((DRY && SKIPPED > 0)); then STATUS=SKIP NOTE="skipped: no CUDA device ($SKIPPED cases; the others need none and passed)"
  elif ((SKIPPED > 0)); then STATUS=FAIL NOTE="$SKIPPED CUDA cases skipped although this machine has a GPU"
  else STATUS=PASS
  fi
}

classify_plain() {  # a command that must succeed on any machine
  if (($2 == 0)); then STATUS=PASS; else STATUS=FAIL NOTE="exit code $2: $(last_line "$3")"; fi
}

classify_measure() {  # a GPU measurement: fails without a device, which the dry run expects
  local rc=$2 log=$3
  if ((DRY)) && ((rc != 0)) && no_device "$log"; then STATUS=SKIP NOTE="skipped: no CUDA device"
  elif ((DRY)) && ((rc == 0)); then STATUS=FAIL NOTE="ran although the GPU is hidden: $(last_line "$log")"
  elif ((rc != 0)); then STATUS=FAIL NOTE="exit code $rc: $(last_line "$log")"
  else STATUS=MEASURED NOTE="$(grep -a '^summary:' "$log" | tail -n1 | cut -c10-)"
  fi
}

classify_sono_bench() {  # `sono bench --per-task`: its table gives the note
  classify_measure "$@"
  [[ "$STATUS" == MEASURED ]] || return 0
  NOTE="$(awk '/^task +type/ {on = 1; next} /^epoch estimate/ {on = 0} on {printf "%s%s %s img/s %s MiB", sep, $1, $6, $7; sep = "; "}' "$3")"
  ((HAS_PRECISION)) || NOTE="no --precision option in this build (its default: strict fp32 convolutions); $NOTE"
}

classify_result_line() {  # tools/gpu/torch_bench.py and sono_bench's wrapper end with "RESULT <status> <note>"
  local rc=$2 log=$3 line
  line="$(grep -a '^RESULT ' "$log" | tail -n1)"
  if [[ -z "$line" ]]; then STATUS=FAIL NOTE="exit code $rc, no RESULT line: $(last_line "$log")"; return; fi
  read -r _ STATUS NOTE <<<"$line"
  if ((DRY == 0)) && [[ "$STATUS" == SKIP ]]; then STATUS=FAIL NOTE="on a GPU machine: $NOTE"; fi
  if ((rc != 0)) && [[ "$STATUS" != FAIL ]]; then STATUS=FAIL NOTE="exit code $rc; $NOTE"; fi
}

classify_memcheck() {
  local rc=$2 log=$3
  if grep -aq 'ERROR SUMMARY: [1-9]' "$log"; then STATUS=FAIL NOTE="memcheck: $(grep -a 'ERROR SUMMARY' "$log" | tail -n1)"
  elif grep -aqiE 'device not supported|unable to (initialize|find)|not supported on this' "$log"; then
    STATUS=UNSUPPORTED NOTE="compute-sanitizer cannot use this GPU here: $(grep -aiE 'not supported|unable' "$log" | head -n1 | cut -c1-150)"
  elif ((rc != 0)); then STATUS=FAIL NOTE="exit code $rc: $(last_line "$log")"
  else STATUS=PASS NOTE="$(grep -a 'ERROR SUMMARY' "$log" | tail -n1)"
  fi
}

# ---- steps -------------------------------------------------------------------------
SANITIZER=""
for c in "$(command -v compute-sanitizer 2>/dev/null)" "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer" \
    /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer \
    $(ls -d /usr/local/cuda-*/bin/compute-sanitizer 2>/dev/null); do
  [[ -n "$c" && -x "$c" ]] && { SANITIZER="$c"; break; }
done
TORCH_BENCH=(env PYTHONUNBUFFERED=1 "${py:-python3}" "$KIT/tools/gpu/torch_bench.py" --wheels "$KIT/wheels"
  --site "$WORK/site")

dry_skip() {  # a step that cannot even start without a GPU; dry run only
  add_row "$1" SKIP 0 - - - - "skipped: no CUDA device; $2"
}

sono_bench_step() {  # sono_bench_step fp32|tf32|bf16
  local precision=$1 name="sono B4 train step $1"
  local args=(bench --per-task --data "$WORK/phantom_a/train" --encoder efficientnet-b4 --size 256 --batch 20
    --warmup 1 --steps 3 --device cuda --json "$LOGS/sono_bench_$precision.json")
  if [[ "$precision" == bf16 ]] && ((!HAS_BF16)); then
    add_row "$name" SKIP 0 - - - - "skipped: this build's --precision has no bf16"
    return
  fi
  if ((HAS_PRECISION)); then args+=(--precision "$precision")
  elif [[ "$precision" != fp32 ]]; then
    add_row "$name" SKIP 0 - - - - "skipped: this build has no --precision option"
    return
  fi
  run_step "$name" classify_sono_bench "${SONO_ENV[@]}" "$BIN/sono" "${args[@]}"
}

sono_forward_step() {  # sono_forward_step tf32|bf16: sono_bench's model/cuda/fwd/<task>/batch:20
  local precision=$1 name="sono B4 forward $1"
  if ((!BENCH_PRECISION)); then
    add_row "$name" SKIP 0 - - - - "skipped: this build's sono_bench has no SONO_BENCH_PRECISION"
    return
  fi
  # 5 timed iterations per workload (after bench_model.cpp's 3 untimed ones).
  run_step "$name" classify_result_line "${SONO_ENV[@]}" SONO_BENCH_PRECISION="$precision" SONO_BENCH_ITERS=5 \
    SONO_BENCH_CUDA_BATCH=20 SONO_BENCH_SIZE=256 SONO_BENCH_ENCODER=efficientnet-b4 \
    bash "$KIT/tools/gpu/sono_bench_ops.sh" "$BIN/sono_bench" "$LOGS/sono_fwd_$precision.json" "$DRY" \
    '^model/cuda/fwd/[a-z]+/batch:20(/|$)'
}

part_a() {
  local exe
  for exe in "$BIN"/test_*; do
    run_step "cuda tests $(basename "$exe")" classify_tests "${SONO_ENV[@]}" "$exe" -tc='*cuda*'
  done
  run_step "phantom data (A)" classify_plain "${SONO_ENV[@]}" "$BIN/sono" phantom --out "$WORK/phantom_a" \
    --train-images 20 --val-images 2 --min-size 256 --max-size 320
  sono_bench_step fp32
  sono_bench_step tf32
  sono_bench_step bf16
  sono_forward_step tf32
  sono_forward_step bf16
  run_step "pytorch B4 train step and forward" classify_result_line "${TORCH_BENCH[@]}" model --device cuda \
    --encoder efficientnet-b4 --size 256 --batch 20 --warmup 2 --repeats 5 --modes train,fwd \
    --rows "$LOGS/torch_model.jsonl" --deadline-s "$(step_cap "pytorch B4 train step and forward")"
  timeout 30 "${py:-python3}" "$KIT/tools/gpu/report.py" throughput --sono-fp32 "$LOGS/sono_bench_fp32.json" \
    --sono-tf32 "$LOGS/sono_bench_tf32.json" --sono-bf16 "$LOGS/sono_bench_bf16.json" \
    --sono-fwd-tf32 "$LOGS/sono_fwd_tf32.json" --sono-fwd-bf16 "$LOGS/sono_fwd_bf16.json" \
    --torch "$LOGS/torch_model.jsonl" --md "$WORK/throughput.md" --json "$WORK/throughput.json" \
    >"$LOGS/report_throughput.log" 2>&1
  add_report throughput
}

part_b() {
  run_step "phantom data (B)" classify_plain "${SONO_ENV[@]}" "$BIN/sono" phantom --out "$WORK/phantom_b" \
    --train-images 8 --val-images 2 --min-size 64 --max-size 96
  if ((DRY)); then
    local found="compute-sanitizer ${SANITIZER:+found at $SANITIZER}${SANITIZER:-not found on this machine}"
    dry_skip "memcheck cuda op tests" "$found"
    dry_skip "memcheck 5-step train" "$found"
  elif [[ -z "$SANITIZER" ]]; then
    add_row "memcheck cuda op tests" MISSING 0 - - - - "compute-sanitizer not found (PATH, CUDA toolkit folders)"
    add_row "memcheck 5-step train" MISSING 0 - - - - "compute-sanitizer not found"
  else
    run_step "memcheck cuda op tests" classify_memcheck "${SONO_ENV[@]}" "$SANITIZER" --tool memcheck --error-exitcode 99 \
      --print-limit 50 "$BIN/test_ops" -tc='*cuda*'
    run_step "memcheck 5-step train" classify_memcheck "${SONO_ENV[@]}" "$SANITIZER" --tool memcheck --error-exitcode 99 \
      --print-limit 50 "$BIN/sono" train --data "$WORK/phantom_b/train" --out "$WORK/train_run" --device cuda \
      --max-steps 5 --encoder efficientnet-b0 --size 64 --batch 4 --workers 1 --quiet
  fi
  run_step "sono_bench cuda ops and floors" classify_result_line "${SONO_ENV[@]}" bash "$KIT/tools/gpu/sono_bench_ops.sh" \
    "$BIN/sono_bench" "$LOGS/sono_bench_ops.json" "$DRY"
  run_step "pytorch floors" classify_result_line "${TORCH_BENCH[@]}" floors --device cuda \
    --rows "$LOGS/torch_floors.jsonl" --deadline-s "$(step_cap "pytorch floors")"
  timeout 30 "${py:-python3}" "$KIT/tools/gpu/report.py" floors --sono-bench "$LOGS/sono_bench_ops.json" \
    --torch "$LOGS/torch_floors.jsonl" --md "$WORK/floors.md" --json "$WORK/floors.json" \
    >"$LOGS/report_floors.log" 2>&1
  add_report floors
}

add_report() {  # appends report.py's table to the summary (or why there is none)
  local name=$1
  if [[ -s "$WORK/$name.md" && -s "$WORK/$name.json" ]]; then
    REPORT_MD+=$(cat "$WORK/$name.md")$'\n\n'
    if [[ "$REPORT_JSON" == "{}" ]]; then REPORT_JSON="{\"$name\": $(cat "$WORK/$name.json")}"
    else REPORT_JSON="${REPORT_JSON%\}}, \"$name\": $(cat "$WORK/$name.json")}"; fi
    cp "$WORK/$name.md" "$WORK/$name.json" "$LOGS/"
  else
    REPORT_MD+="## $name"$'\n\n'"not made: $(last_line "$LOGS/report_$name.log" 2>/dev/null)"$'\n\n'
  fi
  write_json false
}

# The plan, in order: name, the most it may take, the least it needs (seconds).
if [[ "$PART" == *A* ]]; then
  for exe in "$BIN"/test_*; do
    case "$(basename "$exe")" in
      test_train) plan_add "cuda tests test_train" 150 30 ;;
      test_ops) plan_add "cuda tests test_ops" 90 20 ;;
      *) plan_add "cuda tests $(basename "$exe")" 40 8 ;;
    esac
  done
  plan_add "phantom data (A)" 20 4
  plan_add "sono B4 train step fp32" 60 15
  plan_add "sono B4 train step tf32" 60 15
  plan_add "sono B4 train step bf16" 60 15
  plan_add "sono B4 forward tf32" 40 10
  plan_add "sono B4 forward bf16" 40 10
  plan_add "pytorch B4 train step and forward" 140 35
fi
if [[ "$PART" == *B* ]]; then
  plan_add "phantom data (B)" 15 3
  plan_add "memcheck cuda op tests" 150 30
  plan_add "memcheck 5-step train" 90 20
  plan_add "sono_bench cuda ops and floors" 60 15
  plan_add "pytorch floors" 45 10
fi

[[ "$PART" == *A* ]] && part_a
[[ "$PART" == *B* ]] && part_b
if ((DRY == 0)) && command -v nvidia-smi >/dev/null 2>&1; then
  REPORT_MD+="- clocks at the end: $(gpu_query clocks.sm,clocks.mem,power.draw,temperature.gpu | sed 's/, / \/ /g') (sm / mem / power / temperature)"
fi
finalize finished
[[ "$(overall)" == PASS ]]

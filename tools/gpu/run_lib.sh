# The step runner and the summary of tools/gpu/run.sh: one deadline for the
# whole run, a cap per step, and a summary that is rewritten after every step
# (summary.md appended, summary.json and logs.tar.gz replaced), so whatever
# kills the run leaves the rows of the finished steps.

RUN_RESERVE_S="${SONO_SUMMARY_RESERVE_S:-8}"  # kept back for the final summary
PLAN_NAMES=()
PLAN_MAX=()
PLAN_MIN=()
ROWS=()           # name<TAB>status<TAB>seconds<TAB>cap<TAB>passed<TAB>failed<TAB>skipped<TAB>note
ENV_KEYS=()
ENV_VALS=()
REPORT_MD=""      # tables appended at the end of summary.md
REPORT_JSON="{}"  # the same tables for summary.json
CURRENT_STEP=""
CURRENT_PID=""
CURRENT_T0=0

now() { date +%s; }
log() { echo "run: $*"; }
json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/ }
  s=${s//$'\r'/}
  s=${s//$'\n'/\\n}
  printf '"%s"' "$s"
}
json_num() { [[ "$1" =~ ^[0-9]+$ ]] && echo "$1" || echo null; }
env_set() { ENV_KEYS+=("$1"); ENV_VALS+=("$2"); }

# A step of the plan: its name, the most it may take, and the least it needs
# (what steps before it leave for it, when the deadline is short).
plan_add() { PLAN_NAMES+=("$1"); PLAN_MAX+=("$2"); PLAN_MIN+=("$3"); }

# Seconds step $1 may run: its own maximum, but never into the time the steps
# after it need at least, nor into the summary's reserve.
step_cap() {
  local i idx=-1 later=0 left cap
  for i in "${!PLAN_NAMES[@]}"; do
    if [[ "${PLAN_NAMES[$i]}" == "$1" ]]; then idx=$i; cap=${PLAN_MAX[$i]}
    elif ((idx >= 0)); then later=$((later + PLAN_MIN[i])); fi
  done
  ((idx >= 0)) || { echo "run: step '$1' is not in the plan" >&2; cap=30; }
  left=$((RUN_END - $(now) - RUN_RESERVE_S - later))
  ((left < cap)) && cap=$left
  echo "$cap"
}

slug() { tr -c 'A-Za-z0-9._-' '_' <<<"$1" | sed -E 's/_+/_/g; s/^_//; s/_$//'; }

# run_step NAME CLASSIFIER COMMAND...: runs COMMAND under the step's cap, its
# output in LOGS/<name>.log, then CLASSIFIER NAME RC LOG sets STATUS, PASSED,
# FAILED, SKIPPED and NOTE, and the row is added.
run_step() {
  local name=$1 classify=$2
  shift 2
  local cap rc log t0
  cap=$(step_cap "$name")
  log="$LOGS/$(slug "$name").log"
  if ((cap < 3)); then
    add_row "$name" SKIP 0 "$cap" - - - "skipped: the deadline leaves no time for this step"
    return
  fi
  if [[ -n "${SONO_GPU_TEST_HANG:-}" && "$name" == *"$SONO_GPU_TEST_HANG"* ]]; then
    set -- sleep 100000  # tools/gpu/test_kit.sh: a step that never ends
  fi
  log "$name (cap ${cap}s)"
  t0=$(now)
  CURRENT_STEP=$name CURRENT_T0=$t0
  timeout --kill-after=2 "$((cap - 2))" "$@" >"$log" 2>&1 &
  CURRENT_PID=$!
  echo "$CURRENT_PID" >"$WORK/step.pid"  # timeout leads its own process group: tests end it by this id
  wait "$CURRENT_PID"
  rc=$?
  CURRENT_PID="" CURRENT_STEP=""
  STATUS="" PASSED=- FAILED=- SKIPPED=- NOTE=""
  if ((rc == 124 || rc == 137)); then
    STATUS=TIMEOUT NOTE="killed at its cap of ${cap}s (partial log: $(basename "$log"))"
  else
    "$classify" "$name" "$rc" "$log"
  fi
  add_row "$name" "$STATUS" "$(($(now) - t0))" "$cap" "$PASSED" "$FAILED" "$SKIPPED" "$NOTE"
  if [[ "$STATUS" == FAIL || "$STATUS" == TIMEOUT ]]; then tail -n 25 "$log" | sed 's/^/  | /'; fi
}

add_row() {
  local row
  row="$(printf '%s\t' "$@")"
  ROWS+=("${row%$'\t'}")
  log "$1: $2 ${8:-}"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" "${8//|//}" >>"$OUT_DIR/summary.md"
  write_json false
  pack_logs
}

overall() {
  local r st=PASS
  for r in "${ROWS[@]}"; do
    case "$(cut -f2 <<<"$r")" in FAIL|TIMEOUT|KILLED) st=FAIL ;; esac
  done
  echo "$st"
}

write_json() {
  local complete=$1 i r n=${#ROWS[@]} f
  {
    echo "{"
    echo "  \"part\": $(json_str "$PART"), \"dry_run\": $([[ $DRY == 1 ]] && echo true || echo false),"
    echo "  \"complete\": $complete, \"result\": $(json_str "$([[ $complete == true ]] && overall || echo incomplete)"),"
    echo "  \"deadline_s\": $DEADLINE, \"elapsed_s\": $(($(now) - RUN_START)),"
    echo "  \"env\": {"
    for i in "${!ENV_KEYS[@]}"; do
      echo "    $(json_str "${ENV_KEYS[$i]}"): $(json_str "${ENV_VALS[$i]}")$([[ $i -lt $((${#ENV_KEYS[@]} - 1)) ]] && echo ,)"
    done
    echo "  },"
    echo "  \"steps\": ["
    for i in "${!ROWS[@]}"; do
      IFS=$'\t' read -r -a f <<<"${ROWS[$i]}"
      echo "    {\"step\": $(json_str "${f[0]}"), \"status\": $(json_str "${f[1]}"), \"seconds\": $(json_num "${f[2]}"),"\
           "\"cap_s\": $(json_num "${f[3]}"), \"passed\": $(json_num "${f[4]}"), \"failed\": $(json_num "${f[5]}"),"\
           "\"skipped\": $(json_num "${f[6]}"), \"note\": $(json_str "${f[7]:-}")}$([[ $i -lt $((n - 1)) ]] && echo ,)"
    done
    echo "  ],"
    echo "  \"report\": $REPORT_JSON"
    echo "}"
  } >"$OUT_DIR/summary.json.tmp" && mv "$OUT_DIR/summary.json.tmp" "$OUT_DIR/summary.json"
}

# Every raw log, in one file (the device returns at most 8).
pack_logs() {
  tar -C "$(dirname "$LOGS")" -czf "$OUT_DIR/logs.tar.gz.tmp" "$(basename "$LOGS")" 2>/dev/null &&
    mv "$OUT_DIR/logs.tar.gz.tmp" "$OUT_DIR/logs.tar.gz"
}

write_header() {
  local i
  {
    echo "# Sono GPU run: part $PART$([[ $DRY == 1 ]] && echo ' (dry run, no GPU)')"
    echo
    for i in "${!ENV_KEYS[@]}"; do echo "- ${ENV_KEYS[$i]}: ${ENV_VALS[$i]//|//}"; done
    echo
    echo "Rows are appended as the steps finish; the result line comes last (no result line: the run was killed)."
    echo
    echo "| step | status | s | cap s | passed | failed | skipped | note |"
    echo "|---|---|---|---|---|---|---|---|"
  } >"$OUT_DIR/summary.md"
}

# The device returns at most 8 files, 16 MiB each, 64 MiB together, at most
# two folders down, named in [A-Za-z0-9._-]; this run writes three at the top.
check_out_limits() {
  local problems=() n total=0 f size
  n=$(find "$OUT_DIR" -type f | wc -l)
  ((n <= 8)) || problems+=("$n files (at most 8 come back)")
  [[ -z "$(find "$OUT_DIR" -mindepth 2 -type f -print -quit)" ]] || problems+=("files below the top folder")
  while IFS= read -r f; do
    size=$(stat -c %s "$f")
    total=$((total + size))
    ((size <= 16 * 1048576)) || problems+=("$(basename "$f") is $size bytes (16 MiB at most)")
    [[ "$(basename "$f")" =~ ^[A-Za-z0-9._-]+$ ]] || problems+=("'$(basename "$f")' has characters that do not come back")
  done < <(find "$OUT_DIR" -type f)
  ((total <= 64 * 1048576)) || problems+=("$total bytes in all (64 MiB at most)")
  for f in summary.md summary.json logs.tar.gz; do [[ -f "$OUT_DIR/$f" ]] || problems+=("$f missing"); done
  if ((DRY)); then
    for f in $(ls -A "$OUT_DIR"); do
      [[ "$f" == summary.md || "$f" == summary.json || "$f" == logs.tar.gz ]] || problems+=("unexpected $f")
    done
  fi
  printf '%s\n' "${problems[@]}"
}

finalize() {
  local how=$1 result problems
  trap - TERM INT HUP
  result=$(overall)
  [[ "$how" == killed ]] && result=FAIL
  {
    [[ -n "$REPORT_MD" ]] && printf '\n%s\n' "$REPORT_MD"
    echo
    echo "**Result: $result** ($how after $(($(now) - RUN_START)) s of a ${DEADLINE} s deadline)"
  } >>"$OUT_DIR/summary.md"
  write_json true
  cp "$OUT_DIR/summary.md" "$LOGS/summary.md"
  pack_logs
  problems="$(check_out_limits)"
  if [[ -n "$problems" ]]; then
    log "the output folder breaks the device's limits:"
    sed 's/^/  /' <<<"$problems"
    ((DRY)) && exit 4
  fi
  log "summary: $OUT_DIR/summary.md, $OUT_DIR/summary.json, $OUT_DIR/logs.tar.gz ($result)"
}

on_signal() {
  if [[ -n "$CURRENT_PID" ]]; then
    kill -TERM -- "-$CURRENT_PID" 2>/dev/null || kill -TERM "$CURRENT_PID" 2>/dev/null
    add_row "$CURRENT_STEP" KILLED "$(($(now) - CURRENT_T0))" - - - - "the run was stopped by a signal during this step"
  fi
  finalize killed
  exit 143
}

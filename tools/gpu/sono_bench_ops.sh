#!/usr/bin/env bash
# Part B of tools/gpu/run.sh: sono_bench's per-op CUDA benchmarks (<op>/cuda/...)
# and its floor probes (peak/cuda/copy, sgemm, tf32gemm) in one process, a
# short minimum time each; ends with "RESULT <status> <note>".
#   sono_bench_ops.sh SONO_BENCH OUT_JSON DRY(0|1)
set -uo pipefail
bench=$1 out=$2 dry=$3
# Every <op>/cuda/ benchmark (bench/bench_<op>.cpp) and the floor probes; not
# the whole-model ones (part A times the model).
filter="^($("$bench" --benchmark_list_tests | sed -n 's#^\([a-z0-9_]*\)/cuda/.*#\1#p' | grep -vx model | sort -u | paste -sd'|'))/cuda/"
"$bench" --benchmark_filter="$filter" --benchmark_min_time=0.05 \
  --benchmark_out="$out" --benchmark_out_format=json
rc=$?
runs=$(grep -c '"run_type": "iteration"' "$out" 2>/dev/null)
errors=$(grep -c '"error_occurred": true' "$out" 2>/dev/null)
no_device=$(grep -c '"error_message": "no CUDA device"' "$out" 2>/dev/null)
if ((rc != 0)); then echo "RESULT FAIL sono_bench exit code $rc ($runs runs written)"
elif ((${runs:-0} == 0)); then echo "RESULT FAIL no benchmark ran (filter '$filter')"
elif ((dry)) && ((no_device == runs)); then echo "RESULT SKIP skipped: no CUDA device ($runs benchmarks)"
elif ((no_device > 0)); then echo "RESULT SKIP $no_device of $runs benchmarks found no CUDA device"
elif ((errors > 0)); then echo "RESULT FAIL $errors of $runs benchmarks reported an error ($out)"
else echo "RESULT MEASURED $runs benchmarks (table: Per-op floors)"
fi

#!/usr/bin/env bash
# sono_bench runs of tools/gpu/run.sh, in one process, a short minimum time
# each; ends with "RESULT <status> <note>".
#   sono_bench_ops.sh SONO_BENCH OUT_JSON DRY(0|1) [FILTER]
# Without FILTER (part B): every per-op CUDA benchmark (<op>/cuda/...) and the
# floor probes (peak/cuda/copy, sgemm, tf32gemm). With FILTER: the benchmarks
# it matches (part A: the model's forward, model/cuda/fwd/..., at the
# precision SONO_BENCH_PRECISION in the environment).
set -uo pipefail
bench=$1 out=$2 dry=$3
# Every <op>/cuda/ benchmark (bench/bench_<op>.cpp) and the floor probes; not
# the whole-model ones (part A times the model).
filter="${4:-^($("$bench" --benchmark_list_tests | sed -n 's#^\([a-z0-9_]*\)/cuda/.*#\1#p' | grep -vx model | sort -u | paste -sd'|'))/cuda/}"
"$bench" --benchmark_filter="$filter" --benchmark_min_time=0.05 \
  --benchmark_out="$out" --benchmark_out_format=json
rc=$?
runs=$(grep -c '"run_type": "iteration"' "$out" 2>/dev/null)
errors=$(grep -c '"error_occurred": true' "$out" 2>/dev/null)
no_device=$(grep -c '"error_message": "no CUDA device"' "$out" 2>/dev/null)
table="$([[ -n "${4:-}" ]] && echo Throughput || echo Per-op floors)"
if ((rc != 0)); then echo "RESULT FAIL sono_bench exit code $rc ($runs runs written)"
elif ((${runs:-0} == 0)); then echo "RESULT FAIL no benchmark ran (filter '$filter')"
elif ((dry)) && ((no_device == runs)); then echo "RESULT SKIP skipped: no CUDA device ($runs benchmarks)"
elif ((no_device > 0)); then echo "RESULT SKIP $no_device of $runs benchmarks found no CUDA device"
elif ((errors > 0)); then echo "RESULT FAIL $errors of $runs benchmarks reported an error ($out)"
else echo "RESULT MEASURED $runs benchmarks (table: $table)"
fi

#!/usr/bin/env bash
# Builds one libFuzzer target of fuzz/ with clang (AddressSanitizer +
# UndefinedBehaviorSanitizer, CMake with -DSONO_FUZZ=ON) and runs it.
#
#   fuzz/run.sh TARGET              1,000,000 executions from fuzz/corpus/TARGET
#   fuzz/run.sh TARGET 5000000      another count
#   fuzz/run.sh TARGET -- ARGS...   the fuzzer binary with libFuzzer ARGS (e.g. a crash file to reproduce)
#   fuzz/run.sh TARGET --merge      minimises the working corpus into fuzz/corpus/TARGET (rewrites it)
#
# TARGET: torch_checkpoint, safetensors, image_resize, csv_dataset, prediction_json
# (fuzz/TARGET_fuzz.cpp). Environment: SONO_FUZZ_BUILD (default <repo>/build-fuzz),
# CXX (default clang++-14, else clang++). New inputs go to $SONO_FUZZ_BUILD/corpus/TARGET
# (seeded from fuzz/corpus/TARGET, which only --merge changes); crash/leak/timeout
# inputs to $SONO_FUZZ_BUILD/TARGET-*.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SONO_FUZZ_BUILD:-$repo/build-fuzz}"
target="${1:-}"
[ -n "$target" ] && [ -f "$repo/fuzz/${target}_fuzz.cpp" ] || {
  echo "usage: fuzz/run.sh TARGET [RUNS | --merge | -- ARGS...]; targets:" \
    $(cd "$repo/fuzz" && ls *_fuzz.cpp | sed 's/_fuzz.cpp//') >&2
  exit 2
}
shift
cxx="${CXX:-$(command -v clang++-14 || command -v clang++ || true)}"
[ -n "$cxx" ] || { echo "fuzz/run.sh: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

# -O1 -g: fast enough to fuzz, with usable stack traces.
cmake -S "$repo" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O1 \
  -DSONO_CUDA=OFF -DSONO_SANITIZE=ON -DSONO_FUZZ=ON -DSONO_BUILD_TESTS=OFF -DSONO_BUILD_BENCH=OFF \
  "${launcher[@]}" >/dev/null
cmake --build "$build" -j "${SONO_JOBS:-2}" --target "${target}_fuzz"
binary="$build/fuzz/${target}_fuzz"
seeds="$repo/fuzz/corpus/$target"
work="$build/corpus/$target"
mkdir -p "$work"
# One thread (Sono's pool reads OMP_NUM_THREADS): the readers do not need more, and runs stay reproducible.
export OMP_NUM_THREADS=1
args=(-rss_limit_mb=2048 -timeout=10 -artifact_prefix="$build/$target-")
[ -f "$repo/fuzz/$target.dict" ] && args+=(-dict="$repo/fuzz/$target.dict")

case "${1:-}" in
  --)
    shift
    exec "$binary" "${args[@]}" "$@"
    ;;
  --merge)
    # The seeds plus everything found, minimised to the inputs that add coverage.
    fresh="$build/corpus/$target.merged"
    rm -rf "$fresh" && mkdir -p "$fresh"
    "$binary" "${args[@]}" -merge=1 "$fresh" "$seeds" "$work"
    # Findings (crash-*) stay under their names, whatever their coverage.
    cp "$seeds"/crash-* "$fresh"/ 2>/dev/null || true
    rm -f "$seeds"/* && cp "$fresh"/* "$seeds"/
    echo "fuzz/run.sh: fuzz/corpus/$target now holds $(ls "$seeds" | wc -l) files, $(( $(cat "$seeds"/* | wc -c) / 1024 )) KB"
    ;;
  *)
    runs="${1:-1000000}"
    [ -d "$seeds" ] && cp -n "$seeds"/* "$work"/ 2>/dev/null || true
    start=$(date +%s)
    "$binary" "${args[@]}" "$work" -runs="$runs" -max_len=16384 -print_final_stats=1
    echo "fuzz/run.sh: $target: $runs executions without a finding in $(( $(date +%s) - start )) s"
    ;;
esac

#!/usr/bin/env bash
# Builds the libFuzzer target for the PyTorch checkpoint reader with clang
# (AddressSanitizer + UndefinedBehaviorSanitizer) and runs it. Not part of the
# CMake build: it compiles core/*.cpp and io/torch_checkpoint*.cpp itself.
#
#   fuzz/run.sh                 1,000,000 executions from the seed corpus
#   fuzz/run.sh 5000000         another count
#   fuzz/run.sh -- ARGS...      the fuzzer binary with libFuzzer ARGS (e.g. a crash file to reproduce)
#
# Environment: SONO_FUZZ_BUILD (default <repo>/build-fuzz), CXX (default clang++-14, else clang++).
# New inputs go to $SONO_FUZZ_BUILD/corpus (seeded from fuzz/corpus, which stays
# unchanged); crash/leak/timeout inputs to $SONO_FUZZ_BUILD/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SONO_FUZZ_BUILD:-$repo/build-fuzz}"
cxx="${CXX:-$(command -v clang++-14 || command -v clang++ || true)}"
[ -n "$cxx" ] || { echo "fuzz/run.sh: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }

sources=("$repo"/core/*.cpp "$repo"/io/torch_checkpoint*.cpp "$repo/fuzz/torch_checkpoint_fuzz.cpp")
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -DSONO_WITH_CUDA=0 -I"$repo" -Wno-unknown-pragmas)
binary="$build/torch_checkpoint_fuzz"
mkdir -p "$build/obj"

# Rebuild an object when its source, or any header of core/ or io/, is newer.
newest_header="$(ls -t "$repo"/core/*.h "$repo"/io/*.h | head -1)"
objects=()
for src in "${sources[@]}"; do
  obj="$build/obj/$(basename "$(dirname "$src")")_$(basename "$src" .cpp).o"
  objects+=("$obj")
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_header" -nt "$obj" ]; then
    echo "fuzz/run.sh: compiling $(basename "$src")"
    "$cxx" "${flags[@]}" -c "$src" -o "$obj"
  fi
done
"$cxx" "${flags[@]}" "${objects[@]}" -o "$binary"

if [ "${1:-}" = "--" ]; then
  shift
  exec "$binary" "$@"
fi
runs="${1:-1000000}"
mkdir -p "$build/corpus"
cp -n "$repo"/fuzz/corpus/* "$build/corpus/"
start=$(date +%s)
"$binary" "$build/corpus" -dict="$repo/fuzz/torch_checkpoint.dict" -runs="$runs" -max_len=16384 \
  -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$build/"
echo "fuzz/run.sh: $runs executions without a finding in $(( $(date +%s) - start )) s"

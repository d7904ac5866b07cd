#!/usr/bin/env bash
# Stages the GPU run kit: everything the GPU machine needs that its image
# lacks, in one compressed archive, gpu-kit/sono-gpu-kit.tar.xz (git-ignored;
# the device call carries it with `carry: ["gpu-kit"]`, docs/gpu-run.md).
#
#   tools/build_cuda.sh build-cuda && tools/gpu/stage.sh build-cuda
#
# The archive holds
#   bin/     stripped binaries: sono, sono_bench, and every tests/test_* program
#            that has CUDA test cases (doctest -tc='*cuda*' lists at least one)
#   lib/     every shared library those binaries load except what the machine
#            must provide (SONO_MACHINE_LIBS_RE in tools/gpu/cuda_libs.sh: the
#            CUDA runtime libraries, the driver, the glibc core), found with ldd
#   wheels/  pure-Python wheels the PyTorch reference needs that the GPU image
#            lacks (segmentation-models-pytorch; its own requirements -- torch,
#            torchvision, timm, huggingface-hub, safetensors, numpy, pillow,
#            tqdm -- are on the image), downloaded with pip (cached in
#            .cache/wheels)
#   tools/   the run script and its helpers (tools/gpu/*), the PyTorch timing
#            scripts (tools/gpu/torch_bench.py, tools/bench_compare.py,
#            tools/reference/mhmtl.py), at the same paths as in the tree
#   manifest.txt  commit, build settings, sizes, each library's origin
# It prints the kit's size and fails when the kit plus the tracked tree is not
# under SONO_KIT_TREE_LIMIT_MIB (default 40 MiB; the device call's limit is 64).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=tools/gpu/cuda_libs.sh
source "$repo/tools/gpu/cuda_libs.sh"

build="${1:-}"
[[ -n "$build" ]] || { echo "usage: tools/gpu/stage.sh BUILD_DIR (a CUDA build: tools/build_cuda.sh BUILD_DIR)" >&2; exit 2; }
[[ "$build" = /* ]] || build="$PWD/$build"
limit_mib="${SONO_KIT_TREE_LIMIT_MIB:-40}"
kit_dir="$repo/gpu-kit"
archive="$kit_dir/sono-gpu-kit.tar.xz"
wheel_cache="${SONO_WHEEL_CACHE:-$repo/.cache/wheels}"
wheels=(segmentation-models-pytorch==0.5.0)
start=$(date +%s)

die() { echo "stage: $*" >&2; exit 1; }
mib() { awk -v b="$1" 'BEGIN {printf "%.2f", b / 1048576}'; }

[[ -x "$build/sono" ]] || die "no $build/sono: build every target first (tools/build_cuda.sh $build)"
[[ "$(sono_ldd "$build/sono")" == *libcudart.so* ]] || die "$build is not a CUDA build (tools/build_cuda.sh $build makes one)"

stage="$(mktemp -d "${TMPDIR:-/tmp}/sono-gpu-stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/kit/bin" "$stage/kit/lib" "$stage/kit/wheels" "$stage/kit/tools/gpu" "$stage/kit/tools/reference"

# ---- binaries ----------------------------------------------------------------
# Every test program with CUDA cases; a program without any has nothing to run there.
cuda_cases() {
  "$1" --list-test-cases -tc='*cuda*' 2>/dev/null |
    sed -nE 's/.*unskipped test cases passing the current filters: *([0-9]+).*/\1/p' | tail -n1
}
binaries=()
for exe in "$build"/tests/test_*; do
  [[ -f "$exe" && -x "$exe" ]] || continue
  n="$(cuda_cases "$exe")"
  if [[ "${n:-0}" -gt 0 ]]; then
    binaries+=("$exe")
    echo "stage: $(basename "$exe"): $n CUDA test cases"
  fi
done
((${#binaries[@]} > 0)) || die "no test program in $build/tests has CUDA test cases (-tc='*cuda*')"
for exe in "$build/sono" "$build/bench/sono_bench"; do
  [[ -x "$exe" ]] || die "$exe missing: build every target (tools/build_cuda.sh $build)"
  binaries+=("$exe")
done
for exe in "${binaries[@]}"; do
  strip --strip-all -o "$stage/kit/bin/$(basename "$exe")" "$exe"
done

# ---- shared libraries (ldd, not a list) -----------------------------------------
declare -A lib_from=()
for exe in "${binaries[@]}"; do
  while IFS=$'\t' read -r name path; do
    [[ "$name" == "!" ]] && die "ldd $(basename "$exe"): $path"
    [[ "$path" == "not found" ]] && die "ldd $(basename "$exe"): $name not found here; fix the build machine first"
    [[ "$name" =~ $SONO_MACHINE_LIBS_RE ]] && continue
    lib_from[$name]="$path"
  done < <(sono_ldd "$exe")
done
for name in "${!lib_from[@]}"; do
  cp -L "${lib_from[$name]}" "$stage/kit/lib/$name"
  strip --strip-unneeded "$stage/kit/lib/$name" 2>/dev/null || true
done

# The kit must resolve with nothing from this machine but the machine libraries.
for exe in "$stage"/kit/bin/*; do
  while IFS=$'\t' read -r name path; do
    [[ "$name" == "!" || "$path" == "not found" ]] && continue
    [[ "$name" =~ $SONO_MACHINE_LIBS_RE || "$path" == "$stage/kit/lib/"* ]] ||
      die "$(basename "$exe") loads $name from $path, outside the kit"
  done < <(LD_LIBRARY_PATH="$stage/kit/lib" sono_ldd "$exe")
done

# ---- wheels ----------------------------------------------------------------------
mkdir -p "$wheel_cache"
py="$(command -v python3 || true)"
[[ -n "$py" ]] || die "python3 (with pip) is needed to download ${wheels[*]}"
for spec in "${wheels[@]}"; do
  name="${spec%%==*}"
  pattern="${name//-/_}-${spec##*==}"  # the wheel's file name: segmentation_models_pytorch-0.5.0-...
  whl="$(ls "$wheel_cache/$pattern"-*.whl 2>/dev/null | head -n1 || true)"
  if [[ -z "$whl" ]]; then
    "$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$wheel_cache" "$spec" ||
      die "pip download $spec failed"
    whl="$(ls "$wheel_cache/$pattern"-*.whl 2>/dev/null | head -n1 || true)"
  fi
  [[ "$whl" == *-py3-none-any.whl || "$whl" == *-py2.py3-none-any.whl ]] || die "no pure-Python wheel for $spec ($whl)"
  cp "$whl" "$stage/kit/wheels/"
done

# ---- scripts -----------------------------------------------------------------------
cp "$repo"/tools/gpu/*.sh "$repo"/tools/gpu/*.py "$stage/kit/tools/gpu/"
cp "$repo/tools/bench_compare.py" "$stage/kit/tools/"
cp "$repo/tools/reference/mhmtl.py" "$stage/kit/tools/reference/"

# ---- manifest ----------------------------------------------------------------------
max_glibc="$(for f in "$stage"/kit/bin/* "$stage"/kit/lib/*; do objdump -T "$f" 2>/dev/null; done |
  grep -o 'GLIBC_[0-9][0-9.]*' | sort -uV | tail -n1)"
commit="$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)"
[[ -z "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]] || commit="$commit+uncommitted"
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" | head -n1; }
{
  echo "commit: $commit"
  echo "staged: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "build_type: $(cache_value CMAKE_BUILD_TYPE)"
  echo "cuda_architectures: $(cache_value CMAKE_CUDA_ARCHITECTURES)"
  echo "nvcc: $(sed -n 's/^set(CMAKE_CUDA_COMPILER_VERSION "\(.*\)")/\1/p' "$build"/CMakeFiles/*/CMakeCUDACompiler.cmake | head -n1)"
  lib_at() { sono_ldd "$build/sono" | awk -F'\t' -v n="$1" 'index($1, n) == 1 && !done {print $2; done = 1}'; }
  echo "built_against: $("$py" "$repo/tools/gpu/versions.py" --cudart "$(lib_at libcudart.so)" \
    --cublas "$(lib_at libcublas.so)" --cudnn "$(lib_at libcudnn.so)" | sed -n 's/^libraries: //p')"
  echo "cxx_flags: $(grep -o -- '-march=[a-z0-9-]*' "$repo/CMakeLists.txt" | head -n1)"
  echo "build_machine: $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), glibc $(getconf GNU_LIBC_VERSION | awk '{print $2}')"
  echo "max_glibc_symbol: ${max_glibc:-none}"
  echo "machine_libs: $SONO_MACHINE_LIBS_RE"
  for f in "$stage"/kit/bin/*; do echo "bin: $(basename "$f") $(stat -c %s "$f") $(sha256sum "$f" | cut -c1-16)"; done
  for name in $(printf '%s\n' "${!lib_from[@]}" | sort); do
    echo "lib: $name $(stat -c %s "$stage/kit/lib/$name") from ${lib_from[$name]}"
  done
  for f in "$stage"/kit/wheels/*; do echo "wheel: $(basename "$f")"; done
  (cd "$stage/kit" && find tools -type f | sort | while read -r f; do echo "script: $f $(sha256sum "$f" | cut -c1-16)"; done)
} >"$stage/kit/manifest.txt"

# ---- pack ------------------------------------------------------------------------
# One solid xz stream: the CUDA kernels each binary links are the same bytes,
# and xz's 64 MiB window stores them once.
rm -rf "$kit_dir"
mkdir -p "$kit_dir"
XZ_OPT="-9 -T1" tar -C "$stage" --owner=0 --group=0 --sort=name -cJf "$archive" kit
raw=$(du -sb "$stage/kit" | cut -f1)
kit=$(stat -c %s "$archive")
tree=$(git -C "$repo" ls-files -z | (cd "$repo" && xargs -0 stat -c %s 2>/dev/null) | awk '{s += $1} END {print s + 0}')
total=$((kit + tree))
echo "stage: $(ls "$stage/kit/bin" | tr '\n' ' ')"
echo "stage: libraries: $(ls "$stage/kit/lib" | tr '\n' ' ')"
echo "stage: wheels: $(ls "$stage/kit/wheels" | tr '\n' ' ')"
echo "stage: kit $(mib "$kit") MiB ($(mib "$raw") MiB unpacked), tracked tree $(mib "$tree") MiB," \
  "together $(mib "$total") MiB (limit $limit_mib MiB), in $(($(date +%s) - start)) s: $archive"
if ((total >= limit_mib * 1048576)); then
  rm -f "$archive"
  die "the kit plus the tracked tree is $(mib "$total") MiB, not under $limit_mib MiB: archive removed"
fi

# Shared libraries of the GPU kit: which ones the machine must provide, and
# where to find them there. Sourced by tools/gpu/stage.sh (what to bundle) and
# tools/gpu/run.sh (the library path on the GPU machine).

# Libraries taken from the machine, never bundled: the CUDA runtime and its
# math libraries (they must match the machine's driver), the driver itself,
# and the glibc core (it must match the machine's kernel interface and its
# ld.so). Everything else a binary loads travels in the kit.
SONO_MACHINE_LIBS_RE='^(linux-vdso\.so|ld-linux[-a-z0-9_]*\.so|libc\.so|libm\.so|libpthread\.so|libdl\.so|librt\.so|libcuda\.so|libnvidia-[a-z0-9_-]+\.so|libcudart\.so|libcublas\.so|libcublasLt\.so|libcudnn[a-z0-9_]*\.so|libnccl\.so)'

# The dynamic loader's view of one binary: "soname<TAB>path" lines, the path
# being "not found" for a library that cannot be resolved, plus
# "!<TAB>message" lines for loader errors: a missing symbol version, or a
# function the machine's library lacks (ldd -r binds every symbol now, so an
# older cuBLAS or cuDNN fails here, not in the middle of a step).
sono_ldd() {
  local out line
  if command -v ldd >/dev/null 2>&1; then
    out="$(ldd -r "$1" 2>&1)"
  else
    out="$(/lib64/ld-linux-x86-64.so.2 --list "$1" 2>&1)"
  fi
  while IFS= read -r line; do
    line="${line#"${line%%[![:space:]]*}"}"
    case "$line" in
      *"=> not found"*) printf '%s\tnot found\n' "${line%% *}" ;;
      *" => "*) local rest="${line#* => }"; printf '%s\t%s\n' "${line%% *}" "${rest%% (*}" ;;
      /*) printf '%s\t%s\n' "$(basename "${line%% (*}")" "${line%% (*}" ;;
      linux-vdso*|"") ;;
      *"not a dynamic executable"*|*"version"*"not found"*|*"undefined symbol"*|*"No such file"*|*"error"*)
        printf '!\t%s\n' "$line" ;;
    esac
  done <<<"$out"
}

# Folders that may hold the CUDA runtime libraries on this machine, most
# specific first: an explicit list, the CUDA toolkit, the NVIDIA wheels of the
# Python environment (where PyTorch takes cuDNN and cuBLAS from), the driver's
# folder. ldconfig's cache is searched by the loader anyway.
sono_cuda_lib_candidates() {
  local d py
  if [[ -n "${SONO_CUDA_LIB_DIRS:-}" ]]; then tr ':' '\n' <<<"$SONO_CUDA_LIB_DIRS"; fi
  for d in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda $(ls -d /usr/local/cuda-* 2>/dev/null | sort -rV); do
    [[ -n "$d" ]] || continue
    echo "$d/lib64"
    echo "$d/targets/x86_64-linux/lib"
    echo "$d/lib"
  done
  for py in "${SONO_GPU_PYTHON:-}" python3; do
    [[ -n "$py" ]] && command -v "$py" >/dev/null 2>&1 || continue
    timeout 20 "$py" - <<'PY' 2>/dev/null
import glob, os, site, sys
roots = []
try:
    import nvidia  # namespace package of the nvidia-* wheels
    roots += list(nvidia.__path__)
except Exception:
    pass
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    roots.append(os.path.join(sp, "nvidia"))
seen = set()
for r in roots:
    for d in sorted(glob.glob(os.path.join(r, "*", "lib")) + glob.glob(os.path.join(r, "*", "*", "lib"))):
        if os.path.isdir(d) and d not in seen:
            seen.add(d)
            print(d)
for sp in site.getsitepackages():
    d = os.path.join(sp, "torch", "lib")
    if os.path.isdir(d):
        print(d)
PY
  done
  echo /usr/local/nvidia/lib64
  echo /usr/local/nvidia/lib
  echo /usr/lib/x86_64-linux-gnu
  echo /usr/lib64
}

# Sets SONO_LIB_PATH (for the kit's binaries only: bundled libraries first,
# then one folder per missing CUDA library) and SONO_LIB_MISSING (sonames no
# folder holds, one per line), resolving what `ldd` reports missing for the
# binaries given, one folder at a time, so that a library family (cuBLAS and
# cuBLASLt, cuDNN and its sub-libraries) comes from one place.
# SONO_LIB_SOURCES lists "soname -> folder" for the report.
sono_resolve_cuda_libs() {
  local kit_lib=$1
  shift
  local candidates missing name dir found round m
  SONO_LIB_PATH="$kit_lib"
  SONO_LIB_SOURCES=""
  SONO_LIB_MISSING=""
  mapfile -t candidates < <(sono_cuda_lib_candidates | awk 'NF && !seen[$0]++')
  for round in $(seq 1 12); do
    missing="$(for b in "$@"; do LD_LIBRARY_PATH="$SONO_LIB_PATH" sono_ldd "$b"; done |
      awk -F'\t' '$2 == "not found" {print $1}' | sort -u)"
    name=""
    while IFS= read -r m; do
      [[ -n "$m" ]] || continue
      grep -qxF "$m" <<<"$SONO_LIB_MISSING" && continue
      name=$m
      break
    done <<<"$missing"
    [[ -z "$name" ]] && break
    found=""
    for dir in "${candidates[@]}"; do
      if [[ -e "$dir/$name" ]]; then found="$dir"; break; fi
    done
    if [[ -n "$found" ]]; then
      SONO_LIB_PATH="$SONO_LIB_PATH:$found"
      SONO_LIB_SOURCES+="$name -> $found"$'\n'
    else
      SONO_LIB_MISSING+="$name"$'\n'
    fi
  done
  SONO_LIB_MISSING="$(sed '/^$/d' <<<"$SONO_LIB_MISSING")"
  # Loaded by name at run time, not listed by ldd: cuDNN's sub-libraries sit
  # beside libcudnn.so; its runtime-compiled engines need NVRTC.
  for name in libnvrtc.so.13 libnvJitLink.so.13; do
    grep -q "^[[:space:]]*$name " <<<"$(ldconfig -p 2>/dev/null)" && continue
    for dir in ${SONO_LIB_PATH//:/ } "${candidates[@]}"; do
      if [[ -e "$dir/$name" ]]; then
        [[ ":$SONO_LIB_PATH:" == *":$dir:"* ]] || SONO_LIB_PATH="$SONO_LIB_PATH:$dir"
        SONO_LIB_SOURCES+="$name (loaded at run time) -> $dir"$'\n'
        break
      fi
    done
  done
}

#!/usr/bin/env bash
# Installs the PyTorch reference environment that the parity fixtures are dumped
# with (tools/reference/*.py): Debian's CPU torch 1.13 + the baseline's pinned
# Python packages in a venv that sees the system site-packages.
#
# Why Debian torch: PyPI's torch wheel drags in GBs of CUDA libraries; CI has
# 2 cores, no GPU and a time budget. The forward/backward ops of the model are
# defined the same in 1.13 and the baseline's 2.2.2 (see docs/reference-model.md 0).
#
#   tools/setup_reference.sh           install (quick no-op when already done)
#   SONO_REF_VENV=DIR tools/setup_reference.sh   venv elsewhere (default <repo>/.venv-ref)
#   tools/setup_reference.sh --force   delete and recreate the venv
#
# Afterwards run the scripts with "$SONO_REF_VENV/bin/python".
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="${SONO_REF_VENV:-$repo/.venv-ref}"
force=0
[ "${1:-}" = "--force" ] && force=1

# ---- Debian part ----------------------------------------------------------
# scipy and scikit-learn come from Debian (both satisfy the pip pins below:
# albumentations needs scipy>=1.10; the baseline pins scikit-learn 1.2.2, Debian
# has 1.2.1, unused by the numeric fixtures).
apt_packages=(python3-torch python3-torchvision python3-venv python3-numpy
              python3-scipy python3-sklearn)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup_reference: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# ---- pip part -------------------------------------------------------------
# Direct pins: the baseline's docker/requirements.txt and docs/reference-model.md 0. The
# others are the releases current when SMP 0.5.0 / albumentations 2.0.8 were.
# numpy 1.26.4 is the baseline's pin; it stays < 2 so that the Debian torch,
# scipy and sklearn (built against numpy 1.24) keep working. opencv 4.11 is the
# last headless wheel that runs on numpy 1.x (albucore needs >= 4.9.0.80).
# stringzilla/simsimd/pydantic are albucore/albumentations dependencies pinned
# to 2025 releases: albucore 0.0.24 applies uint8 lookup tables (brightness/
# contrast, Normalize) through stringzilla 3's translate(), an API that later
# majors changed.
# onnx and onnxruntime (CPU wheel) check the ONNX export (tests/export): the
# exported files must pass onnx's full checker and run in ONNX Runtime.
requirements=(
  segmentation-models-pytorch==0.5.0
  timm==1.0.15
  efficientnet-pytorch==0.7.1
  safetensors==0.5.3
  huggingface_hub==0.30.2
  albumentations==2.0.8
  albucore==0.0.24
  stringzilla==3.12.5
  simsimd==6.2.1
  pydantic==2.11.5
  opencv-python-headless==4.11.0.86
  numpy==1.26.4
  SimpleITK==2.5.0
  onnx==1.23.2
  onnxruntime==1.32.0
)

# The stamp holds everything that defines the install: a change of a pin (or of
# the Debian torch) re-runs pip.
torch_version="$(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
tv_version="$(/usr/bin/python3 -c 'import torchvision; print(torchvision.__version__)')"
stamp_text="torch=$torch_version torchvision=$tv_version ${requirements[*]}"
stamp="$venv/.sono-ref-stamp"

if [ $force -eq 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ] \
   && [ -x "$venv/bin/python" ]; then
  echo "setup_reference: $venv up to date"
else
  [ $force -eq 1 ] && rm -rf "$venv"
  [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
  # Constraints keep pip from "upgrading" the Debian torch/torchvision to the
  # multi-GB PyPI wheels: they can only be satisfied by what is installed.
  constraints="$(mktemp)"
  trap 'rm -f "$constraints"' EXIT
  printf 'torch==%s\ntorchvision==%s\nnumpy<2\n' "$torch_version" "$tv_version" > "$constraints"
  echo "setup_reference: pip install into $venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input \
    -c "$constraints" "${requirements[@]}"
  rm -f "$stamp"
fi

# ---- verify ---------------------------------------------------------------
"$venv/bin/python" - "$torch_version" <<'EOF'
import sys
import torch
if torch.__version__ != sys.argv[1] or not torch.__file__.startswith("/usr/lib/python3/"):
    sys.exit(f"setup_reference: torch was replaced: {torch.__version__} at {torch.__file__}")
import torchvision, numpy, scipy, sklearn, cv2, safetensors, huggingface_hub, timm
import segmentation_models_pytorch as smp, efficientnet_pytorch, albumentations, albucore
import SimpleITK
import onnx, onnxruntime
mods = [("torch", torch), ("torchvision", torchvision), ("numpy", numpy), ("scipy", scipy),
        ("scikit-learn", sklearn), ("opencv", cv2), ("safetensors", safetensors),
        ("huggingface_hub", huggingface_hub), ("timm", timm),
        ("segmentation_models_pytorch", smp), ("albumentations", albumentations),
        ("albucore", albucore), ("SimpleITK", SimpleITK), ("onnx", onnx), ("onnxruntime", onnxruntime)]
for name, m in mods:
    print(f"  {name:28s} {getattr(m, '__version__', '?')}")
from importlib.metadata import version
print(f"  {'efficientnet_pytorch':28s} {version('efficientnet_pytorch')}")
EOF
[ -f "$stamp" ] || echo "$stamp_text" > "$stamp"
echo "setup_reference: ok ($venv/bin/python)"

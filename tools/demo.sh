#!/usr/bin/env bash
# The main job on the built-in default: set up, build, generate a phantom
# dataset, train a small model on it, predict the validation split in the
# challenge's submission layout, and score it with the official metrics.
#   tools/demo.sh [out-dir]       (default: runs/demo)
# Environment: SONO_DEMO_EPOCHS, SONO_DEMO_ENCODER, SONO_DEMO_SIZE override the defaults.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$repo/runs/demo}"
build="${SONO_BUILD_DIR:-$repo/build}"

"$repo/tools/setup.sh"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target sono
sono="$build/sono"

mkdir -p "$out"
"$sono" phantom --out "$out/phantom" --seed 1
# A short run from random weights: the encoder gets the heads' learning rate
# (the official 1e-4 assumes ImageNet weights) and BatchNorm statistics are
# re-estimated before each validation (the official momentum 0.01 needs far
# more steps to catch up); see docs/training.md.
"$sono" train --data "$out/phantom/train" --out "$out/train" \
  --encoder "${SONO_DEMO_ENCODER:-efficientnet-b0}" --size "${SONO_DEMO_SIZE:-64}" \
  --epochs "${SONO_DEMO_EPOCHS:-20}" --batch 8 --seed 1 --lr 1e-3 --bn-calibration 10 --overwrite
"$sono" predict --data "$out/phantom/val" --weights "$out/train/best.safetensors" --out "$out/pred"
"$sono" evaluate --data "$out/phantom/val" --pred "$out/pred" --out "$out/evaluation.json"
echo "demo: done; training log $out/train/log.jsonl, curves $out/train/curves.png, scores $out/evaluation.json"

#!/usr/bin/env bash
# docs/distributed.md's scaling figures: training-step images/s per task kind,
# 1 rank x T threads vs T ranks x 1 thread (mpirun), EfficientNet-B0 on a
# phantom dataset of that kind only.
#   tools/dist_scaling.sh [BUILD_DIR] [THREADS] [SIZE] [BATCH] [STEPS]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$repo/build}"
threads="${2:-2}" size="${3:-64}" batch="${4:-8}" steps="${5:-8}"
sono="$build/sono"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/sono-dist-scaling.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# Enough images of each kind for STEPS steps in the one epoch (a quarter of them are that kind).
images=$((4 * batch * steps > 40 ? 4 * batch * steps : 40))
"$sono" phantom --out "$tmp/ph" --train-images "$images" --val-images 2 --min-size 64 --max-size 96 >/dev/null
# Seconds per step from the cumulative images/s of log.jsonl, after the first
# two steps (warm-up): (t_last - t_2) / (steps - 2).
rate() {
  python3 - "$1" "$batch" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1] + "/log.jsonl")]
steps = [r for r in recs if r["type"] == "step"]
b = int(sys.argv[2])
t = [r["global_step"] * b / r["images_per_s"] for r in steps]
print(f"{(len(t) - 2) * b / (t[-1] - t[1]):.2f}")
PY
}
printf '| task kind | 1 rank x %s threads (img/s) | %s ranks x 1 thread (img/s) | speed-up |\n| --- | --- | --- | --- |\n' \
  "$threads" "$threads"
for kind in cls det reg seg; do
  data="$tmp/$kind"
  mkdir -p "$data/csv_files"
  cp "$tmp/ph/train/csv_files/phantom_$kind.csv" "$data/csv_files/"
  ln -s "$tmp/ph/train/images" "$tmp/ph/train/masks" "$data/" 2>/dev/null || true
  args=(train --data "$data" --encoder efficientnet-b0 --size "$size" --batch "$batch" --epochs 1
        --max-steps "$steps" --workers 0 --quiet --val-fraction 0)
  OMP_NUM_THREADS="$threads" "$sono" "${args[@]}" --out "$tmp/one_$kind" >/dev/null 2>&1
  OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np "$threads" "$sono" "${args[@]}" \
    --out "$tmp/many_$kind" >/dev/null 2>&1
  a="$(rate "$tmp/one_$kind")" b="$(rate "$tmp/many_$kind")"
  printf '| %s | %s | %s | %s |\n' "$kind" "$a" "$b" "$(python3 -c "print(f'{$b / $a:.2f}')")"
done
# The gradient all-reduce of the last distributed run (segmentation).
python3 - "$tmp/many_seg" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1] + "/log.jsonl") if '"step"' in l]
r = [x for x in recs if x.get("type") == "step"][2:]
busy = sum(x["comm_busy_s"] for x in r) / len(r)
exp = sum(x["comm_exposed_s"] for x in r) / len(r)
print(f"\nseg, {len(r)} steps: {r[-1]['comm_buckets']} buckets, {r[-1]['comm_bytes'] / 1e6:.1f} MB all-reduced per step, "
      f"busy {busy * 1e3:.1f} ms, exposed {exp * 1e3:.1f} ms, hidden {1 - exp / busy:.2f}")
PY

#!/usr/bin/env bash
# Generates the PyTorch reference fixtures the parity tests read, into DIR.
# Skips work whose outputs already exist for the same script versions.
#   tools/reference/make_fixtures.sh DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:?usage: make_fixtures.sh DIR}"
py="${SONO_REF_VENV:-$repo/.venv-ref}/bin/python"
mkdir -p "$out"
stamp="$out/.stamp"
want="$(cat "$here"/*.py "$here/make_fixtures.sh" | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "make_fixtures: up to date in $out"
  exit 0
fi
t0=$(date +%s)
"$py" "$here/dump_parity.py" --out "$out/b4" --encoder efficientnet-b4 --batch 2 --size 256
# The same step computed in float64 (stored as float32), smaller: exact gradient parity.
"$py" "$here/dump_parity.py" --out "$out/b4_f64" --encoder efficientnet-b4 --batch 2 --size 128 --dtype float64
"$py" "$here/dump_opencv_resize.py" --out "$out/resize"
"$py" "$here/dump_metrics.py" --out "$out/metrics"
"$py" "$here/dump_checkpoints.py" --out "$out/checkpoints"
"$py" "$here/dump_encoder_parity.py" --out "$out/encoder_parity"
"$py" "$here/dump_official_predictions.py" --out "$out/official_predictions"
echo "$want" > "$stamp"
echo "make_fixtures: wrote $out in $(( $(date +%s) - t0 )) s"

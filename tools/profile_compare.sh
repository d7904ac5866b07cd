#!/bin/sh
# Sono's and PyTorch's per-op-family time side by side (tools/profile_compare.py):
# builds `sono` in build/ if needed and runs the script with the reference venv's python.
set -e
cd "$(dirname "$0")/.."
VENV=${SONO_REF_VENV:-.venv-ref}
[ -x build/sono ] || cmake --build build -j2 --target sono
exec "$VENV/bin/python" tools/profile_compare.py --sono build/sono "$@"

#!/usr/bin/env bash
# The peer's Python environment for `mandat bench`: opencv-python-headless and numpy, pinned by
# sha256 in requirements-peer.txt, in a virtual environment in mandat's cache (outside the repo).
# Idempotent: does nothing when the environment already holds exactly these requirements.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REQ="$HERE/requirements-peer.txt"
VENV="${MANDAT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mandat}/peer-venv"
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "setup-peer: installing the benchmark peer (OpenCV YuNet + SFace) into $VENV" >&2
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --require-hashes -r "$REQ" >&2
"$VENV/bin/python" -c 'import cv2, numpy; print("setup-peer: opencv", cv2.__version__, "numpy", numpy.__version__)' >&2
echo "$want" > "$STAMP"

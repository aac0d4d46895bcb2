#!/usr/bin/env bash
# Runs mandat after an idempotent setup. With no arguments it shows the face pipeline on a test image.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
if [ $# -eq 0 ]; then
  data="${MANDAT_DATA:-../shared/data}"
  img="$data/lfw/lfw-deepfunneled/Takeo_Hiranuma/Takeo_Hiranuma_0001.jpg"
  if [ -f "$img" ]; then
    set -- detect "$img"
  else
    echo "No test data at $data (set MANDAT_DATA). Try: ./run.sh detect YOUR_PHOTO.jpg" >&2
    set -- --help
  fi
fi
exec target/release/mandat "$@"

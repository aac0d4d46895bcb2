#!/usr/bin/env bash
# What only the tests need. Debian packages: GStreamer's RTSP server (the engine's reconnect test serves a
# video over RTSP on loopback; the cluster test makes its low-resolution clip with GStreamer), libfaketime
# (the cluster test runs a worker with a skewed clock), systemd's systemd-analyze (checks the units in
# packaging/systemd), and headless Chromium with its WebDriver (the browser tests of the
# web app), poppler-utils, whose pdftoppm and pdftotext check the PDFs mandat writes, and the ffmpeg
# program, which makes the H.265 copies of the test videos for the decoders' golden tests. Idempotent.
set -euo pipefail
PACKAGES=(poppler-utils ffmpeg libfaketime systemd python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly chromium chromium-driver fonts-dejavu-core)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-deps: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
fi

# The API fuzzer the OpenAPI test runs against a live server (crates/web/tests/openapi.rs), pinned,
# in its own virtual environment outside the repository.
FUZZ_VENV="${MANDAT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mandat}/fuzz-venv"
SCHEMATHESIS_VERSION=4.32.5
if ! "$FUZZ_VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "test-deps: installing schemathesis $SCHEMATHESIS_VERSION into $FUZZ_VENV" >&2
  python3 -m venv "$FUZZ_VENV"
  "$FUZZ_VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
fi

#!/usr/bin/env bash
# Runs mandat after an idempotent setup. With no arguments it starts the demo: fresh demo users,
# cameras replaying the test videos in MANDAT_DATA (default ../shared/data), a permit granted through
# the real lawful path, the live engine and the API; alerts are printed as they arrive. With
# arguments it runs that mandat command (./run.sh --help, ./run.sh detect PHOTO.jpg, ./run.sh serve).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
if [ $# -eq 0 ]; then
  if [ -z "${MANDAT_DATA:-}" ] && [ -d ../shared/data ]; then
    MANDAT_DATA="$(cd ../shared/data && pwd)"
    export MANDAT_DATA
  fi
  set -- demo
fi
exec target/release/mandat "$@"

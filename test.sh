#!/usr/bin/env bash
# Runs every test after an idempotent setup: formatting, lints, unit, property and integration tests
# (golden outputs, bad inputs, an LFW fold, the lawful-use core on SQLite and PostgreSQL), on the test
# data in MANDAT_DATA (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")"
export MANDAT_PROFILE=release
# ONNX Runtime's telemetry stays off in every test process too, not only in `mandat` itself.
export ORT_DISABLE_TELEMETRY=1
# Setup builds the test targets too, so the tests and the binary share one build of the dependencies.
MANDAT_SETUP_BUILD=tests scripts/setup.sh
export MANDAT_DATA="${MANDAT_DATA:-$(cd .. && pwd)/shared/data}"
scripts/test-deps.sh
# The storage tests run on SQLite and on PostgreSQL (installed and started on loopback here).
MANDAT_TEST_POSTGRES="$(scripts/postgres.sh)"
case "$MANDAT_TEST_POSTGRES" in
  postgres://*) ;;
  *) echo "scripts/postgres.sh did not print a postgres:// URL (got: '$MANDAT_TEST_POSTGRES'); see its messages above" >&2; exit 1 ;;
esac
export MANDAT_TEST_POSTGRES
cargo fmt --all -- --check
# In the release profile, so build scripts (OpenH264's C build among them) and proc-macros built for
# the release binary above are reused rather than built a second time for a dev profile.
cargo clippy --locked -q --release --all-targets -- -D warnings
cargo test --locked --release --workspace --no-fail-fast

#!/usr/bin/env bash
# Runs every test after an idempotent setup: formatting, lints, unit, property and integration tests
# (golden outputs, bad inputs, an LFW fold), on the test data in MANDAT_DATA (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")"
export MANDAT_PROFILE=release
scripts/setup.sh
export MANDAT_DATA="${MANDAT_DATA:-$(cd .. && pwd)/shared/data}"
cargo fmt --all -- --check
cargo clippy --locked -q --all-targets -- -D warnings
cargo test --locked --release --workspace

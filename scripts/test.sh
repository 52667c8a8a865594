#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, then the whole test suite against a real
# PostgreSQL (started or installed if needed) and moto server (installed into a virtualenv).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/plumb/target}"
# No incremental build state: a test run builds once, and the state only costs disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export DATABASE_URL="${PLUMB_TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
export PLUMB_MOTO_SERVER="$(scripts/moto.sh path)"

scripts/postgres.sh
scripts/moto.sh install

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked

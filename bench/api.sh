#!/usr/bin/env bash
# API latency and throughput on loopback against real PostgreSQL (release build).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/plumb/target}"
export DATABASE_URL="${PLUMB_TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
scripts/postgres.sh
cargo bench --quiet -p plumb-api --bench api

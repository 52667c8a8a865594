#!/usr/bin/env bash
# The controller under load: BENCH_ENVS environments (default 200, two ECS services each, one
# autoscaled) created at once on moto, then each one's image changed, then a steady state.
# Prints reconciles per second, p50/p95 from a spec change to Ready, the server's RSS, and
# AWS calls per environment per sweep. Release build; Postgres and moto on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/plumb/target}"
export PLUMB_ADMIN_DATABASE_URL="${PLUMB_TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
scripts/postgres.sh
scripts/moto.sh install
cargo build --quiet --release --bin plumb
export PLUMB="$CARGO_TARGET_DIR/release/plumb"
exec "$(dirname "$(scripts/moto.sh path)")/python" bench/controller.py

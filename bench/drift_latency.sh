#!/usr/bin/env bash
# Drift detection through the CloudTrail event path: the real `plumb serve` with
# --events-queue-url, Postgres and moto on loopback. An environment under `policy.drift:
# report` with a 600 s resync (so only an event explains a quick detection) has its ECS
# service's desiredCount changed out of band BENCH_CHANGES times (default 100), each followed
# by the CloudTrail event EventBridge would send; prints p50/p95/max from the change to a
# drift record naming its actor, and writes them as JSON (BENCH_OUT, default
# bench/drift_latency.json). Release build, unless PLUMB names a binary to use.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/plumb/target}"
export PLUMB_ADMIN_DATABASE_URL="${PLUMB_TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
scripts/postgres.sh
scripts/moto.sh install
if [ -z "${PLUMB:-}" ]; then
  cargo build --quiet --release --bin plumb
  export PLUMB="$CARGO_TARGET_DIR/release/plumb"
fi
exec "$(dirname "$(scripts/moto.sh path)")/python" bench/drift_latency.py

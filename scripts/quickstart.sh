#!/usr/bin/env bash
# Brings up what Plumb needs on this machine and runs it with an example environment:
# PostgreSQL (started or installed if none runs), moto server on loopback as the AWS endpoint
# (with a VPC, two subnets and a security group in it), then `plumb serve` (API and
# controller), an admin token, and `plumb apply --wait` of examples/arive.yaml on that network,
# looked at again every 30 s so a change made behind Plumb's back is put back soon.
# Ctrl-C stops Plumb and moto.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/plumb/target}"
MOTO_PORT="${PLUMB_MOTO_PORT:-5000}"
LISTEN="${PLUMB_LISTEN:-127.0.0.1:8080}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/plumb}"
export PLUMB_SERVER="http://$LISTEN"
# moto accepts any credentials; real AWS uses the standard credentials chain instead.
export PLUMB_AWS_ENDPOINT_URL="${PLUMB_AWS_ENDPOINT_URL:-http://127.0.0.1:$MOTO_PORT}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
export AWS_REGION="${AWS_REGION:-us-east-1}"

scripts/postgres.sh
scripts/moto.sh install
cargo build --quiet --bin plumb
PLUMB="$CARGO_TARGET_DIR/debug/plumb"

admin_url="${DATABASE_URL%/*}/postgres"
db="${DATABASE_URL##*/}"
psql "$admin_url" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
  || psql "$admin_url" -qc "CREATE DATABASE \"$db\""

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

scripts/moto.sh start "$MOTO_PORT" >/tmp/plumb-moto.log 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$MOTO_PORT") 2>/dev/null && break
  sleep 0.2
done
# The example names its team's subnets; moto knows only those made here. Alerts go to a
# topic in moto, with a queue subscribed to read them from.
work="$(mktemp -d)"
RESYNC=30
PYTHON="$(dirname "$(scripts/moto.sh path)")/python"
made="$("$PYTHON" scripts/moto_network.py \
  "$PLUMB_AWS_ENDPOINT_URL" "$AWS_REGION" examples/arive.yaml "$work/arive.yaml" "$RESYNC")"
read -r TOPIC QUEUE <<<"$made"

"$PLUMB" migrate
"$PLUMB" serve --listen "$LISTEN" --alerts-topic-arn "$TOPIC" --alert-quiet-period-seconds 60 &
pids+=($!)
host="${LISTEN%:*}" port="${LISTEN##*:}"
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && break; sleep 0.2; done

PLUMB_TOKEN="$("$PLUMB" token create --role admin --name quickstart 2>/dev/null)"
export PLUMB_TOKEN
"$PLUMB" apply -f "$work/arive.yaml" --wait
"$PLUMB" get

cat <<MSG

Plumb is serving on $PLUMB_SERVER (OpenAPI: $PLUMB_SERVER/api/openapi.json), with moto as
the AWS endpoint on 127.0.0.1:$MOTO_PORT. In another shell:

  export PLUMB_SERVER=$PLUMB_SERVER PLUMB_TOKEN=$PLUMB_TOKEN
  $PLUMB get arive -o yaml
  $PLUMB plan -f $work/arive.yaml

Change something behind Plumb's back (the api service's desired count, in moto):

  $PYTHON -c 'import boto3; boto3.client("ecs", endpoint_url="$PLUMB_AWS_ENDPOINT_URL", region_name="$AWS_REGION", aws_access_key_id="t", aws_secret_access_key="t").update_service(cluster="arive-cluster", service="arive-api", desiredCount=3)'

Right after, "$PLUMB plan -f $work/arive.yaml" shows the drift (desiredCount: 3 → 1). Plumb's
controller looks at arive again within $RESYNC s (spec.policy.resyncSeconds in this copy; 5
minutes by default), records the drift and puts it back, with no trigger: watch it with

  $PLUMB describe arive
  $PLUMB drift arive --state all

The drift's alerts (opened at once, resolved after a 60 s quiet period) arrive on the SNS
topic $TOPIC; read them from the queue subscribed to it:

  $PYTHON -c 'import boto3; print(boto3.client("sqs", endpoint_url="$PLUMB_AWS_ENDPOINT_URL", region_name="$AWS_REGION", aws_access_key_id="t", aws_secret_access_key="t").receive_message(QueueUrl="$QUEUE", MaxNumberOfMessages=10, MessageAttributeNames=["All"]))'

To look at once instead: curl -X POST -H "Authorization: Bearer \$PLUMB_TOKEN" $PLUMB_SERVER/api/v1/environments/arive/reconcile
Metrics (Prometheus text): $PLUMB_SERVER/metrics

Ctrl-C stops Plumb and moto.
MSG
wait "${pids[1]}"

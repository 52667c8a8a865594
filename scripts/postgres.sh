#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:${PGPORT:-5432}: uses one that runs,
# starts an installed cluster that is down, or installs PostgreSQL from Debian's packages.
# When it installs the server itself, it gives the `postgres` role the password `postgres`
# (the URLs the scripts use carry it; a trust-auth server ignores it).
set -euo pipefail

PORT="${PGPORT:-5432}"
ready() { pg_isready -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if command -v pg_isready >/dev/null && ready; then
  exit 0
fi

if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "PostgreSQL is not installed; installing it from Debian's packages" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fresh=1
fi

version="$(ls /etc/postgresql | sort -V | tail -1)"
echo "starting PostgreSQL $version" >&2
as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do ready && break; sleep 1; done
ready || { echo "PostgreSQL did not come up on 127.0.0.1:$PORT" >&2; exit 1; }

if [ "${fresh:-0}" = 1 ]; then
  as_root su postgres -c "psql -q -c \"ALTER ROLE postgres PASSWORD 'postgres'\""
fi
